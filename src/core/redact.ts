// Credentials written into repository URLs (https://user:token@host/...) stay out of everything
// Slipway shows or stores: logs, errors, events and API answers.

/** userinfo of a URL with a scheme: "https://user:token@" -> "https://***@". */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"`<>]+@/gi;

/** The text with the credentials of every URL in it replaced by "***". */
export function redactUrls(text: string): string {
  return text.replace(URL_USERINFO, '$1***@');
}

/** A URL as it may be shown or kept where a step can read it: without user name or password. */
export function withoutCredentials(url: string): string {
  return url.replace(URL_USERINFO, '$1');
}
