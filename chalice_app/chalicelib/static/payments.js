/*
 * payments.js v1: the platform's card fields in a merchant's checkout page.
 *
 *   const payments = Payments("pk_test_...");
 *   await payments.mount("#card");          // or an element; {name: true} adds a name field
 *   const token = await payments.tokenize(); // {id, object, card: {brand, last4, ...}}
 *
 * The card number, expiry and security code are typed into a frame served by the platform
 * (another origin): this page's scripts cannot read them, and the frame hands this page
 * only the token or an error ({code, param, message}). No dependency, no build step.
 * Loaded as a classic script it defines the global `Payments`; /js/v1/payments.mjs is the
 * same library as an ES module (`import { Payments } from ".../js/v1/payments.mjs"`).
 */
var Payments = (function () {
  "use strict";

  var LIBRARY_PATH = /\/js\/v1\/payments\.m?js(?:[?#].*)?$/;
  var currentScript = typeof document !== "undefined" && document.currentScript;
  var loadedFrom = currentScript && currentScript.src ? currentScript.src : null;

  function apiBase(options) {
    var from = options.apiBase || Payments.scriptUrl || loadedFrom;
    if (!from) { throw new Error("Payments: load payments.js from the API or pass {apiBase}"); }
    return String(from).replace(LIBRARY_PATH, "").replace(/\/+$/, "");
  }

  function failure(code, message) { return { code: code, param: null, message: message }; }

  function Payments(publishableKey, options) {
    if (!(this instanceof Payments)) { return new Payments(publishableKey, options); }
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw new Error("Payments: a publishable key (pk_...) is required; never a secret key");
    }
    options = options || {};
    this._key = publishableKey;
    this._base = apiBase(options);
    this._origin = new URL(this._base, window.location.href).origin;
    this._frame = null;
    this._pending = {};
    this._next = 1;
    this._ready = null;
    var self = this;
    window.addEventListener("message", function (event) { self._receive(event); });
  }

  Payments.prototype._receive = function (event) {
    // Only the card frame this instance mounted, from the platform's origin, is listened to.
    if (!this._frame || event.source !== this._frame.contentWindow) { return; }
    if (event.origin !== this._origin) { return; }
    var message = event.data || {};
    if (message.type === "payments:ready" && this._ready) {
      this._resize(message.height);
      this._ready.resolve(this);
    } else if (message.type === "payments:resize") {
      this._resize(message.height);
    } else if (message.type === "payments:result" && this._pending[message.id]) {
      var pending = this._pending[message.id];
      delete this._pending[message.id];
      if (message.token) { pending.resolve(message.token); } else { pending.reject(message.error); }
    }
  };

  Payments.prototype._resize = function (height) {
    if (typeof height === "number" && height > 0) { this._frame.style.height = height + "px"; }
  };

  /** Embeds the card fields in `target` (a CSS selector or an element); resolves when ready. */
  Payments.prototype.mount = function (target, options) {
    var self = this;
    options = options || {};
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) { return Promise.reject(failure("mount_failed", "No element matches " + target)); }
    if (this._frame) { this._frame.remove(); }
    var query = "key=" + encodeURIComponent(this._key) +
      "&origin=" + encodeURIComponent(window.location.origin) + (options.name ? "&name=1" : "");
    var frame = document.createElement("iframe");
    frame.src = this._base + "/elements/card?" + query;
    frame.title = "Secure card payment input";
    frame.setAttribute("allow", "payment");
    frame.setAttribute("scrolling", "no");
    frame.style.cssText = "border:0;width:100%;height:190px;display:block;overflow:hidden;";
    this._frame = frame;
    var ready = this._ready = {};
    var promise = new Promise(function (resolve, reject) {
      ready.resolve = resolve;
      ready.reject = reject;
    });
    var timer = setTimeout(function () {
      ready.reject(failure("mount_failed", "The card fields did not load."));
    }, options.timeout || 15000);
    container.appendChild(frame);
    return promise.then(function (value) { clearTimeout(timer); return value; }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  };

  /** Resolves to the token ({id, object, card}) or rejects with {code, param, message}. */
  Payments.prototype.tokenize = function () {
    if (!this._frame) { return Promise.reject(failure("not_mounted", "Call mount() first.")); }
    var id = this._next++;
    var self = this;
    var promise = new Promise(function (resolve, reject) {
      self._pending[id] = { resolve: resolve, reject: reject };
    });
    this._frame.contentWindow.postMessage({ type: "payments:tokenize", id: id }, this._origin);
    return promise;
  };

  /** Moves the keyboard focus to the card number. */
  Payments.prototype.focus = function () {
    if (this._frame) {
      this._frame.contentWindow.postMessage({ type: "payments:focus" }, this._origin);
    }
  };

  Payments.scriptUrl = null;
  return Payments;
})();
if (typeof window !== "undefined") { window.Payments = Payments; }
