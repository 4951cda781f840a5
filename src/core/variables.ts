// Names a run's variables (given through the API or `slipway run --var`) may not take: those a
// loader, shell or interpreter obeys before the step's own code runs, and Slipway's own. A run
// picks values for the pipeline's commands; it must not change what those commands are.

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Exact names (compared upper-cased) and why each is refused. */
const FORBIDDEN_NAMES: Record<string, string> = {
  PATH: 'it decides which program every command runs',
  ENV: 'sh reads and runs the file it names',
  BASH_ENV: 'bash reads and runs the file it names',
  SHELLOPTS: 'it changes how bash runs every command',
  BASHOPTS: 'it changes how bash runs every command',
  PS4: 'bash expands it, running commands, while tracing',
  PROMPT_COMMAND: 'bash runs it',
  IFS: 'it changes how the shell splits every command',
  CDPATH: 'it changes where cd goes',
  GLOBIGNORE: 'it changes how the shell expands every command',
  NODE_OPTIONS: 'node obeys it before running any script',
  NODE_PATH: 'it changes which modules node loads',
  NODE_EXTRA_CA_CERTS: 'it changes whom node trusts over TLS',
  PERL5OPT: 'perl obeys it before running any script',
  PERL5LIB: 'it changes which modules perl loads',
  PERLLIB: 'it changes which modules perl loads',
  PERL5DB: 'perl runs it',
  RUBYOPT: 'ruby obeys it before running any script',
  RUBYLIB: 'it changes which libraries ruby loads',
  JAVA_TOOL_OPTIONS: 'the JVM obeys it before running any program',
  _JAVA_OPTIONS: 'the JVM obeys it before running any program',
  JDK_JAVA_OPTIONS: 'the JVM obeys it before running any program',
  CLASSPATH: 'it changes which classes the JVM loads',
  GCONV_PATH: 'the C library loads code from it',
  LOCPATH: 'the C library loads data from it',
  GLIBC_TUNABLES: 'the C library obeys it',
  HOSTALIASES: 'it changes how host names resolve',
  LOCALDOMAIN: 'it changes how host names resolve',
  RES_OPTIONS: 'it changes how host names resolve',
  SSL_CERT_FILE: 'it changes whom TLS clients trust',
  SSL_CERT_DIR: 'it changes whom TLS clients trust',
  CURL_CA_BUNDLE: 'it changes whom TLS clients trust',
  REQUESTS_CA_BUNDLE: 'it changes whom TLS clients trust',
  CI: 'Slipway sets it',
};

/** Name prefixes (compared upper-cased) and why each is refused. */
const FORBIDDEN_PREFIXES: Array<[string, string]> = [
  ['LD_', 'the dynamic loader obeys it'],
  ['DYLD_', 'the dynamic loader obeys it'],
  ['MALLOC_', 'the C library obeys it'],
  ['BASH_FUNC_', 'bash imports functions from it'],
  ['GIT_', 'git obeys it'],
  ['PYTHON', 'python obeys it before running any script'],
  ['SLIPWAY_', 'Slipway sets it'],
];

export function isVariableName(name: string): boolean {
  return VARIABLE_NAME.test(name);
}

/** Why a run may not set this variable, or null when it may. */
export function refusedVariable(name: string): string | null {
  if (!isVariableName(name)) return `"${name}" is not a variable name (letters, digits and _, not starting with a digit)`;
  const upper = name.toUpperCase();
  const why = FORBIDDEN_NAMES[upper] ?? FORBIDDEN_PREFIXES.find(([prefix]) => upper.startsWith(prefix))?.[1];
  return why === undefined ? null : `a run may not set ${name}: ${why}`;
}
