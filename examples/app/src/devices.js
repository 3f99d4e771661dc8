// The client label the app gives faroe-worker for a new session (sessions extension,
// X-Faroe-Client-Label): a short "Browser on System" from the User-Agent, so the device list reads
// "Firefox on Linux" rather than a 200-character header. Nothing here is trusted: the label is
// only shown back to the same user, escaped like any other text.

const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, "Edge"],
  [/\bOPR\//, "Opera"],
  [/\bFirefox\/|\bFxiOS\//, "Firefox"],
  [/\bSamsungBrowser\//, "Samsung Internet"],
  [/\bChrome\/|\bCriOS\/|\bHeadlessChrome\/|\bChromium\//, "Chrome"],
  [/\bSafari\//, "Safari"],
];
const SYSTEMS = [
  [/\biPhone\b/, "iPhone"],
  [/\biPad\b/, "iPad"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bWindows\b/, "Windows"],
  [/\bMacintosh\b|\bMac OS X\b/, "macOS"],
  [/\bLinux\b/, "Linux"],
];

/** At most this many characters (faroe-worker keeps up to 64). */
const MAX_LABEL = 48;

/** "Firefox on Linux", "Safari on iPhone", …; the shortened header for anything else; null if none. */
export function clientLabelFrom(userAgent) {
  if (!userAgent) return null;
  const browser = BROWSERS.find(([re]) => re.test(userAgent))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  if (browser || system) return browser ?? system;
  // Printable ASCII only: a header value, and faroe-worker ignores control characters anyway.
  const plain = userAgent.replace(/[^\x20-\x7e]/g, "").trim();
  return plain ? plain.slice(0, MAX_LABEL) : null;
}
