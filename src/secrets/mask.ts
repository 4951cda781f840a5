// Hides secret values in log lines: the value itself, each line of a multi-line value, and the
// forms a step is likely to print it in (base64 alone or inside a longer stream, URL- and
// JSON-escaped), plus a value split across two lines, a third or more of a value on a line of its own, and
// the start of one at the end of a line cut at the limit. All forms are compiled into one
// pattern up front, since every line of every step goes through it.

export const MASK = '***';

/** Shorter encoded forms and fragments would mask ordinary text; a shorter value is masked whole only. */
const MIN_FORM = 4;

export class SecretMasker {
  /** Every form of every value, longest first, so a value that contains another is masked whole. */
  private readonly pattern: RegExp;
  /** The forms of at least MIN_FORM characters, which may also be masked in part. */
  private readonly forms: string[];
  /** The values as a step would print them (a multi-line value line by line), for lines that are a fragment of one. */
  private readonly values: string[];
  private readonly longestValue: number;
  private readonly longestForm: number;

  /** Null when there is nothing to mask, so a log without secrets does no work for them. */
  static of(secrets: readonly string[]): SecretMasker | null {
    const forms = new Set<string>();
    const values = new Set<string>();
    for (const secret of secrets) {
      if (secret === '') continue;
      if (secret.length < MIN_FORM) {
        forms.add(secret);
        continue;
      }
      // A log is kept by line, so a multi-line value can only appear there line by line.
      const lines = (secret.includes('\n') ? secret.split(/\r?\n/) : [secret]).filter((line) => line.length >= MIN_FORM);
      for (const line of lines) values.add(line);
      for (const form of [...lines, ...encodedForms(secret)]) if (form.length >= MIN_FORM) forms.add(form);
    }
    return forms.size === 0 ? null : new SecretMasker([...forms].sort((a, b) => b.length - a.length), [...values]);
  }

  private constructor(all: string[], values: string[]) {
    this.pattern = new RegExp(all.map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    this.forms = all.filter((form) => form.length >= MIN_FORM);
    this.values = values;
    this.longestValue = Math.max(0, ...values.map((value) => value.length));
    this.longestForm = this.forms[0]?.length ?? 0;
  }

  /** Every whole form in `text` becomes "***". */
  mask(text: string): string {
    return text.replace(this.pattern, MASK);
  }

  /** A whole line: as mask(), and a line that is only a large part of a value (the rest printed elsewhere) becomes "***". */
  maskLine(text: string): string {
    return this.isFragment(text.trim()) ? MASK : this.mask(text);
  }

  /** A line cut at the limit: as mask(), and also the first part of a form at its end. */
  maskCut(text: string): string {
    const masked = this.mask(text);
    let longest = 0;
    for (const form of this.forms) longest = Math.max(longest, startAtEnd(masked, form));
    return longest > 0 ? masked.slice(0, -longest) + MASK : masked;
  }

  /**
   * Where a form starts at the end of `before` and ends at the start of `after`, the line after
   * it: [the index in `before` where it starts, the index in `after` where it ends].
   */
  split(before: string, after: string): [number, number] | null {
    if (this.longestForm === 0) return null;
    const tail = before.slice(Math.max(0, before.length - this.longestForm + 1));
    const joined = tail + after.slice(0, this.longestForm - 1);
    const boundary = tail.length;
    this.pattern.lastIndex = 0;
    // Every start before the boundary, not only the leftmost match: a form within `before` may overlap one that crosses.
    for (let match = this.pattern.exec(joined); match !== null && match.index < boundary; match = this.pattern.exec(joined)) {
      const end = match.index + match[0].length;
      if (end > boundary && match[0].length >= MIN_FORM) return [before.length - boundary + match.index, end - boundary];
      this.pattern.lastIndex = match.index + 1;
    }
    return null;
  }

  /** A whole line that is the start or the end of a value, a third of it or more: the rest may come later, or never. */
  private isFragment(text: string): boolean {
    if (text.length < MIN_FORM || text.length > this.longestValue) return false;
    for (const value of this.values) {
      if (value.length > text.length && text.length * 3 >= value.length && (value.startsWith(text) || value.endsWith(text))) return true;
    }
    return false;
  }
}

/** The ways a step may print a value other than as it is. */
function encodedForms(secret: string): string[] {
  // encodeURIComponent throws on a lone surrogate; Buffer and URLSearchParams encode one as U+FFFD.
  const wellFormed = secret.replace(/\p{Surrogate}/gu, '\uFFFD');
  const bytes = Buffer.from(wellFormed);
  const base64 = bytes.toString('base64');
  const inStream = [0, 1, 2].map((offset) => {
    // Inside longer base64 data the value starts at byte 0, 1 or 2 of a 3-byte group: keep the
    // characters made of its bits only, not those shared with the bytes before or after it.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    return encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
  });
  const base64Forms = [base64, base64.replace(/=+$/, ''), ...inStream];
  const uri = encodeURIComponent(wellFormed);
  const urlForms = [uri, uri.replace(/%20/g, '+'), new URLSearchParams({ v: wellFormed }).toString().slice(2)];
  const json = JSON.stringify(secret).slice(1, -1);
  const jsonSlash = json.replace(/\//g, '\\/');
  return [
    ...base64Forms,
    ...base64Forms.map((form) => form.replace(/\+/g, '-').replace(/\//g, '_')),
    ...urlForms,
    ...urlForms.map((form) => form.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())),
    json,
    jsonSlash,
    asciiJson(json),
    asciiJson(jsonSlash),
  ];
}

/** JSON as encoders that write ASCII only print it (Python's json.dumps, PHP's json_encode): \uXXXX for the rest. */
function asciiJson(json: string): string {
  return json.replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** How long the longest end of `text` is that is the start of `form`, when at least MIN_FORM and shorter than it. */
function startAtEnd(text: string, form: string): number {
  const first = form[0]!;
  for (let index = text.indexOf(first, Math.max(0, text.length - form.length + 1)); index !== -1; index = text.indexOf(first, index + 1)) {
    if (text.length - index < MIN_FORM) return 0;
    if (form.startsWith(text.slice(index))) return text.length - index;
  }
  return 0;
}
