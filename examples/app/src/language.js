// The language of the emails faroe-worker sends for this request (its email templates, header
// X-Faroe-Email-Language): the visitor's most preferred language from Accept-Language.
// faroe-worker picks the closest language it has templates for (de-CH → de) and ignores one it
// has none for, so the app passes the browser's first choice and need not know the template set.

const TAG = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;

/** The highest-weighted language tag of an Accept-Language header ("de-DE"), or null. */
export function emailLanguageFrom(acceptLanguage) {
  if (!acceptLanguage) return null;
  let best = null;
  let bestWeight = 0;
  for (const item of acceptLanguage.split(",")) {
    const [tag, ...params] = item.trim().split(";");
    if (!TAG.test(tag)) continue; // "*" and anything malformed
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (!(weight > 0) || weight > 1) continue;
    if (weight > bestWeight) {
      best = tag;
      bestWeight = weight;
    }
  }
  return best;
}
