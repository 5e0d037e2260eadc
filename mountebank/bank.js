/*
 * Mock bank: a mountebank (2.9.1) `inject` response.
 *
 * This file is the SOURCE of exactly one JavaScript function expression.
 * The stack runner reads it as a string and POSTs it to the mountebank
 * admin API as `{"inject": "<this file>"}`; mountebank evaluates it as
 * `(<this file>)(config, ...)`, so nothing but comments may come before
 * or after the function and there must be no trailing semicolon.
 * Protocol documentation: mountebank/README.md.
 *
 * The whole ledger lives in config.state (mountebank's per-imposter state).
 * The full card number and the CVV are never stored: only last4 and the
 * behaviour flags needed later (refunds_declined, refund_behaviour).
 */
function (config) {
    var SLOW_DELAY_MS = 8000;
    var CARD_DECLINES = {
        '4000000000000002': 'generic_decline',
        '4000000000009995': 'insufficient_funds',
        '4000000000009987': 'lost_card',
        '4000000000009979': 'stolen_card',
        '4000000000000069': 'expired_card',
        '4000000000000127': 'incorrect_cvc'
    };
    var CARD_ERROR = '4000000000000119';
    var CARD_SLOW = '4000000000001000';
    var CARD_REFUNDS_DECLINED = '4000000000005126';
    // Refunds of these cards' authorizations: approved, but every answer about the refund
    // (the refund and its reversal) comes after SLOW_DELAY_MS; or answered HTTP 500 without
    // the bank acting (nothing recorded).
    var CARD_REFUNDS_SLOW = '4000000000007726';
    var CARD_REFUNDS_ERROR = '4000000000005423';

    var state = config.state;
    state.authorizations = state.authorizations || {};
    state.refunds = state.refunds || {};

    var request = config.request;
    var logger = config.logger;
    var method = String(request.method || '').toUpperCase();
    var path = request.path || '/';

    function copy(obj) {
        return JSON.parse(JSON.stringify(obj));
    }

    function answer(statusCode, body) {
        return {
            statusCode: statusCode,
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body)
        };
    }

    function respond(statusCode, body) {
        config.callback(answer(statusCode, body));
    }

    // Acted on already; the answer leaves after SLOW_DELAY_MS when ``late``.
    function respondMaybeLater(late, body) {
        if (!late) {
            return respond(200, body);
        }
        logger.info('bank: answer about ' + body.reference + ' delayed by ' + SLOW_DELAY_MS + ' ms');
        setTimeout(function () {
            respond(200, body);
        }, SLOW_DELAY_MS);
        return undefined;
    }

    function notFound() {
        respond(404, { error: 'not_found' });
    }

    function badRequest() {
        respond(400, { error: 'bad_request' });
    }

    function parseBody() {
        var body = request.body;
        if (body !== null && typeof body === 'object') {
            return body;
        }
        if (typeof body !== 'string' || body === '') {
            return null;
        }
        try {
            var parsed = JSON.parse(body);
            return (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) ? parsed : null;
        }
        catch (e) {
            return null;
        }
    }

    function isReference(value) {
        return typeof value === 'string' && value.length > 0;
    }

    function isAmount(value) {
        return typeof value === 'number' && Math.floor(value) === value && isFinite(value) && value > 0;
    }

    function has(map, key) {
        return Object.prototype.hasOwnProperty.call(map, key);
    }

    function authorizationCode() {
        var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
        var code = '';
        for (var i = 0; i < 6; i += 1) {
            code += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
        }
        return code;
    }

    function authorize() {
        var body = parseBody();
        if (!body || !isReference(body.reference) || !isAmount(body.amount) ||
                !body.card || typeof body.card !== 'object' ||
                typeof body.card.number !== 'string' || body.card.number === '') {
            return badRequest();
        }

        if (has(state.authorizations, body.reference)) {
            logger.info('bank: authorization ' + body.reference + ' replayed');
            return respond(200, state.authorizations[body.reference].response);
        }

        var number = body.card.number.replace(/[\s-]/g, '');
        var last4 = number.slice(-4);

        if (number === CARD_ERROR) {
            logger.info('bank: authorization ' + body.reference + ' -> 500 (card ****' + last4 + '), nothing recorded');
            return respond(500, { error: 'internal_error' });
        }

        var currency = typeof body.currency === 'string' ? body.currency : null;
        var response;
        if (has(CARD_DECLINES, number)) {
            response = {
                reference: body.reference,
                status: 'declined',
                decline_code: CARD_DECLINES[number]
            };
        }
        else {
            response = {
                reference: body.reference,
                status: 'approved',
                authorization_code: authorizationCode(),
                amount: body.amount,
                currency: currency
            };
        }

        state.authorizations[body.reference] = {
            reference: body.reference,
            status: response.status,
            authorization_code: response.authorization_code,
            decline_code: response.decline_code,
            amount: body.amount,
            currency: currency,
            amount_refunded: 0,
            card_last4: last4,
            refunds_declined: number === CARD_REFUNDS_DECLINED,
            refund_behaviour: number === CARD_REFUNDS_SLOW ? 'slow'
                : (number === CARD_REFUNDS_ERROR ? 'error' : null),
            voided: false,
            response: response
        };
        logger.info('bank: authorization ' + body.reference + ' ' + response.status +
            (response.decline_code ? ' (' + response.decline_code + ')' : '') + ' card ****' + last4);

        if (number === CARD_SLOW) {
            logger.info('bank: authorization ' + body.reference + ' answer delayed by ' + SLOW_DELAY_MS + ' ms');
            setTimeout(function () {
                respond(200, response);
            }, SLOW_DELAY_MS);
            return undefined;
        }
        return respond(200, response);
    }

    function authorizationStatus(reference) {
        if (!has(state.authorizations, reference)) {
            return notFound();
        }
        var auth = state.authorizations[reference];
        var result = {
            reference: auth.reference,
            status: auth.status
        };
        if (auth.status === 'approved') {
            result.authorization_code = auth.authorization_code;
        }
        else {
            result.decline_code = auth.decline_code;
        }
        result.amount = auth.amount;
        result.currency = auth.currency;
        result.amount_refunded = auth.amount_refunded;
        result.voided = auth.voided;
        return respond(200, result);
    }

    function refund() {
        var body = parseBody();
        if (!body || !isReference(body.reference) || !isReference(body.authorization_reference) ||
                !isAmount(body.amount)) {
            return badRequest();
        }

        if (has(state.refunds, body.reference)) {
            logger.info('bank: refund ' + body.reference + ' replayed');
            return respond(200, state.refunds[body.reference].response);
        }

        var auth = has(state.authorizations, body.authorization_reference)
            ? state.authorizations[body.authorization_reference] : null;
        if (auth && auth.status === 'approved' && auth.refund_behaviour === 'error') {
            logger.info('bank: refund ' + body.reference + ' -> 500, nothing recorded');
            return respond(500, { error: 'internal_error' });
        }
        var declineCode = null;
        if (!auth) {
            declineCode = 'authorization_not_found';
        }
        else if (auth.status !== 'approved') {
            declineCode = 'authorization_not_approved';
        }
        else if (auth.refunds_declined) {
            declineCode = 'refund_declined';
        }
        else if (body.amount > auth.amount - auth.amount_refunded) {
            declineCode = 'amount_exceeds_authorization';
        }

        var response;
        if (declineCode) {
            response = {
                reference: body.reference,
                status: 'declined',
                decline_code: declineCode
            };
        }
        else {
            auth.amount_refunded += body.amount;
            response = {
                reference: body.reference,
                status: 'approved',
                amount: body.amount,
                authorization_reference: body.authorization_reference
            };
        }

        var slow = !declineCode && auth.refund_behaviour === 'slow';
        state.refunds[body.reference] = {
            reference: body.reference,
            authorization_reference: body.authorization_reference,
            amount: body.amount,
            status: response.status,
            voided: false,
            slow: slow,
            response: response
        };
        logger.info('bank: refund ' + body.reference + ' of ' + body.authorization_reference + ' ' +
            response.status + (declineCode ? ' (' + declineCode + ')' : ''));
        return respondMaybeLater(slow, response);
    }

    function refundStatus(reference) {
        if (!has(state.refunds, reference)) {
            return notFound();
        }
        var stored = state.refunds[reference];
        var result = copy(stored.response);
        result.status = stored.status;
        result.authorization_reference = stored.authorization_reference;
        result.amount = stored.amount;
        result.voided = stored.voided;
        return respond(200, result);
    }

    /*
     * Reversal of an authorization or refund reference. From now on the bank refuses the
     * reference for good: a later request with it is declined ('reversed'), its status reads
     * 'reversed'. If the operation was approved it is voided (money moved back); if the bank
     * never saw it, a tombstone is kept so that a late request cannot be approved.
     */
    function reverse(kind, reference) {
        var ledger = kind === 'authorization' ? state.authorizations : state.refunds;
        var refusal = { reference: reference, status: 'declined', decline_code: 'reversed' };
        var entry = has(ledger, reference) ? ledger[reference] : null;
        var voided = false;
        if (!entry) {
            entry = { reference: reference, amount: 0, amount_refunded: 0, voided: false };
            ledger[reference] = entry;
        }
        else if (entry.status === 'approved') {
            voided = true;
            entry.voided = true;
            if (kind === 'refund' && has(state.authorizations, entry.authorization_reference)) {
                state.authorizations[entry.authorization_reference].amount_refunded -= entry.amount;
            }
        }
        if (entry.status !== 'reversed') {
            entry.status = 'reversed';
            entry.decline_code = 'reversed';
            entry.response = refusal;
        }
        logger.info('bank: ' + kind + ' ' + reference + ' reversed' + (voided ? ' (voided)' : ''));
        respondMaybeLater(entry.slow === true,
            { reference: reference, status: 'reversed', voided: entry.voided });
    }

    function reversalOf(prefix) {
        var suffix = '/reversal';
        if (path.length <= suffix.length || path.slice(-suffix.length) !== suffix) {
            return null;
        }
        var saved = path;
        path = path.slice(0, -suffix.length);
        var reference = referenceFrom(prefix);
        path = saved;
        return reference;
    }

    function referenceFrom(prefix) {
        if (path.indexOf(prefix) !== 0) {
            return null;
        }
        var raw = path.slice(prefix.length);
        if (raw === '' || raw.indexOf('/') !== -1) {
            return null;
        }
        try {
            return decodeURIComponent(raw);
        }
        catch (e) {
            return null;
        }
    }

    /*
     * Counters for tests (GET /_stats, GET /_stats/{reference}): how many operations of
     * each kind were received, in total and per reference. Numbers only, no bodies: the
     * imposter records no requests, so no card number is kept anywhere.
     */
    function countReceived() {
        state.received = state.received || { total: {}, byReference: {} };
        var parts = path.split('/');
        var reversal = method === 'POST' && parts.length === 4 && parts[3] === 'reversal';
        var body = method === 'POST' && !reversal ? parseBody() : null;
        var operation = method + ' /' + parts[1] + (reversal ? '/reversal' : '');
        var ref = body && isReference(body.reference) ? body.reference
            : (reversal ? reversalOf('/' + parts[1] + '/')
                : (method === 'GET' ? referenceFrom('/' + parts[1] + '/') : null));
        state.received.total[operation] = (state.received.total[operation] || 0) + 1;
        if (ref !== null) {
            var counts = state.received.byReference[ref] = state.received.byReference[ref] || {};
            counts[operation] = (counts[operation] || 0) + 1;
        }
    }

    function stats() {
        var received = state.received || { total: {}, byReference: {} };
        var ref = referenceFrom('/_stats/');
        if (ref === null) {
            return respond(200, { received: received.total });
        }
        return respond(200, { reference: ref, received: received.byReference[ref] || {} });
    }

    try {
        var reference;
        if (method === 'GET' && (path === '/_stats' || path.indexOf('/_stats/') === 0)) {
            return stats();
        }
        countReceived();
        if (method === 'POST' && path === '/authorizations') {
            authorize();
        }
        else if (method === 'POST' && path === '/refunds') {
            refund();
        }
        else if (method === 'POST' && (reference = reversalOf('/authorizations/')) !== null) {
            reverse('authorization', reference);
        }
        else if (method === 'POST' && (reference = reversalOf('/refunds/')) !== null) {
            reverse('refund', reference);
        }
        else if (method === 'GET' && (reference = referenceFrom('/authorizations/')) !== null) {
            authorizationStatus(reference);
        }
        else if (method === 'GET' && (reference = referenceFrom('/refunds/')) !== null) {
            refundStatus(reference);
        }
        else {
            notFound();
        }
    }
    catch (e) {
        logger.error('bank: unexpected error ' + e);
        respond(500, { error: 'internal_error' });
    }
    return undefined;
}
