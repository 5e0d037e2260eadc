// Prints the path of the headless Chromium shipped inside @sparticuz/chromium, unpacking it
// on first use (to the system's temporary directory).
import chromium from "@sparticuz/chromium";

console.log(await chromium.executablePath());
