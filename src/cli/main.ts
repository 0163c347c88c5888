/**
 * The `torrent` program: commander wiring and the one place where errors become an exit code and
 * stderr text. Nothing imports this module.
 *
 * Invariant (the error edge): every failure prints exactly one line `torrent: <what is wrong>`,
 * then at most one line `hint: <what to do>`, and nothing else, except the stack trace and its
 * causes: always for a bug (an InternalError, or anything thrown that is not a TorrentError), for
 * the other errors only with --debug. That includes commander's own errors (unknown command or option,
 * missing argument, an option value its argParser refused): commander is told to print nothing
 * (`configureOutput`) and to throw instead of exiting (`exitOverride`), and `commanderFailure`
 * rewrites what it threw. Exit codes: 0 done (and --help, --version), 1 runtime, 2 usage or
 * input, 130/143 interrupted.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_RUNTIME, InternalError, TorrentError, UsageError } from '../errors.js';
import { guardOutput } from './output.js';

/** Adds one command (its options, help text and action) to the program. */
type Register = (program: Command) => void;

/**
 * Every command's module, loaded only when wanted: `torrent info x.torrent` loads info.ts alone,
 * not the session, the DHT, the tracker client or progress bars, which cost it tens of
 * milliseconds of start-up (issue 15). The order is the one `torrent --help` lists.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  info: async () => (await import('./info.js')).registerInfo,
  magnet: async () => (await import('./magnet.js')).registerMagnet,
  download: async () => (await import('./download.js')).registerDownload,
  seed: async () => (await import('./download.js')).registerSeed,
  peers: async () => (await import('./peers.js')).registerPeers,
  tracker: async () => (await import('./tracker.js')).registerTracker,
  create: async () => (await import('./create.js')).registerCreate,
  verify: async () => (await import('./verify.js')).registerVerify,
};

/**
 * The command that argv names, when commander is certain to run that one: the first word that is
 * not an option (the program's own options, --debug, --version and --help, take no value), if it
 * is a command's name. Null (no command, `help`, a misspelt name) means every command is needed:
 * for the command list in --help, and for commander's "did you mean" suggestion.
 */
export function namedCommand(argv: readonly string[]): string | null {
  const word = argv.slice(2).find((a) => !a.startsWith('-'));
  return word !== undefined && Object.hasOwn(COMMANDS, word) ? word : null;
}

const EXIT_HELP = `
Exit codes:
  0    done
  1    runtime failure (network, disk, no peers before --timeout)
  2    bad usage or bad input (unreadable or malformed torrent, bad magnet URI)
  130  interrupted (SIGINT), 143 terminated (SIGTERM)`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Commander's messages start with this; ours do not. */
const COMMANDER_PREFIX = /^error: /;

/**
 * The program. `failedIn` is told which (sub)command commander failed in, so the hint can name
 * it; it is called before commander throws. `only`: register just that command (see
 * namedCommand); null registers them all.
 */
export async function buildProgram(failedIn: (cmd: Command) => void = () => undefined, only: string | null = null): Promise<Command> {
  const program = new Command();
  program
    .name('torrent')
    .description('A command-line BitTorrent client: strict, fast, safe on hostile input.')
    .version(version(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces for errors')
    .addHelpText('after', EXIT_HELP);
  const names = only === null ? Object.keys(COMMANDS) : [only];
  // Loaded side by side, registered in the listed order.
  const registers = await Promise.all(names.map((name) => COMMANDS[name]!()));
  for (const register of registers) register(program);
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride().configureOutput({
      // Help asked for goes to stdout as usual; commander's error text is replaced by ours.
      writeErr: () => undefined,
      outputError: () => failedIn(cmd),
    });
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (`| head`) ends our output quietly, help text included.
  guardOutput(process.stdout);
  let failed: Command | null = null;
  const debug = argv.includes('--debug');
  let program: Command | null = null;
  try {
    program = await buildProgram((cmd) => (failed = cmd), namedCommand(argv));
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version asked for exit 0 (commander says so); `torrent` alone is a usage error.
      if (e.exitCode === 0) return EXIT_OK;
      const where = failed ?? program;
      const { message, hint } = commanderFailure(e, where === null || where === program ? null : where.name());
      return report(new UsageError(message, { hint, cause: e }), debug);
    }
    return report(e, debug);
  }
}

/**
 * What commander threw, as one message and one hint. `command` is the subcommand it failed in
 * (null: the program itself). Commander's wording is kept where it is already clear; its
 * "(Did you mean ...?)" suggestion becomes the hint.
 */
function commanderFailure(e: CommanderError, command: string | null): { message: string; hint: string } {
  const usage = command ? `torrent ${command} --help shows its usage` : 'torrent --help lists the commands';
  if (e.code === 'commander.help') return { message: 'no command given', hint: usage };
  const text = e.message.replace(COMMANDER_PREFIX, '');
  const first = text.split('\n')[0] ?? '';
  const suggestion = /\n\(Did you mean (.+)\?\)$/.exec(text)?.[1];
  const hint = suggestion ? `did you mean ${suggestion}?` : usage;
  const scope = command ? `${command}: ` : '';
  if (e.code === 'commander.invalidArgument') {
    // "option '-p, --port <n>' argument 'x' is invalid. <reason>" -> "--port x: <reason>"
    const opt = /^option '(?:[^']*?)(--?[\w-]+)(?: [<[][^']*)?' argument '([\s\S]*)' is invalid\. ([\s\S]+)$/.exec(text);
    if (opt) return { message: `${opt[1]} ${opt[2]}: ${opt[3]}`, hint: usage };
    const arg = /^command-argument value '([\s\S]*)' is invalid for argument '([^']+)'\. ([\s\S]+)$/.exec(text);
    if (arg) return { message: `${scope}<${arg[2]}> ${arg[1]}: ${arg[3]}`, hint: usage };
  }
  if (e.code === 'commander.optionMissingArgument') {
    const opt = /^option '([^']+)' argument missing$/.exec(first);
    if (opt) return { message: `${scope}${opt[1]} needs a value`, hint: usage };
  }
  if (e.code === 'commander.excessArguments') {
    const n = /Expected (\d+) arguments? but got (\d+)/.exec(first);
    if (n) return { message: `${scope}too many arguments: expected ${n[1]}, got ${n[2]}`, hint: usage };
  }
  if (e.code === 'commander.unknownCommand') return { message: first, hint };
  return { message: `${scope}${first.replace(/\.$/, '')}`, hint };
}

/** One line whatever the message holds: control characters (newlines, escapes) are shown escaped. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Many lines, each as oneLine shows it: no terminal escape a message may carry (a path from a torrent) reaches the terminal. */
function lines(text: string): string {
  return text.split('\n').map(oneLine).join('\n');
}

/**
 * Most causes printed after a stack. Our chains are two or three long (a session's InternalError,
 * the thread's error, the system's); the bound keeps an error wrapped again at every retry from
 * flooding stderr (a cause that loops back is stopped by `seen`).
 */
const MAX_CAUSES = 8;

/** The stack of `e`, then each cause's as `caused by: <stack>`. */
function trace(e: unknown): string {
  // A thrown value that is not an Error (a string) has no stack: the `torrent:` line said it all.
  if (!(e instanceof Error)) return '';
  const stackOf = (x: unknown): string => lines(x instanceof Error ? (x.stack ?? `${x.name}: ${x.message}`) : String(x));
  let out = `${stackOf(e)}\n`;
  const seen = new Set<unknown>([e]);
  let cause = e.cause;
  for (let n = 0; n < MAX_CAUSES && cause !== undefined && !seen.has(cause); n++) {
    seen.add(cause);
    out += `caused by: ${stackOf(cause)}\n`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return out;
}

/** What a bug's report asks of the user (errors.ts: an InternalError is a bug of ours). */
const REPORT_HINT = 'this is a bug in torrent: please report it with the lines below';

/**
 * The error edge. A typed error the user can act on (bad usage or input, a disk or network
 * failure) is one `torrent:` line and at most one `hint:` line, exit with its code; --debug adds
 * its stack and causes. A bug (an InternalError, or anything that is not a TorrentError) always
 * shows its stack and causes, whatever --debug says: that is what a report needs, and a bug is
 * not reproduced on demand. Exit 1.
 */
function report(e: unknown, debug: boolean): number {
  if (e instanceof TorrentError && !(e instanceof InternalError)) {
    process.stderr.write(`torrent: ${oneLine(e.message)}\n`);
    if (e.hint) process.stderr.write(`hint: ${oneLine(e.hint)}\n`);
    if (debug) process.stderr.write(trace(e));
    return e.exitCode;
  }
  process.stderr.write(`torrent: internal error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
  process.stderr.write(`hint: ${oneLine(e instanceof TorrentError && e.hint ? e.hint : REPORT_HINT)}\n`);
  process.stderr.write(trace(e));
  return EXIT_RUNTIME;
}

// Last resort: an error thrown outside the command's promise (a stray callback) is a bug, and is
// still reported in our shape rather than as Node's bare stack trace.
const onStray = (e: unknown): never => {
  report(e, process.argv.includes('--debug'));
  process.exit(EXIT_RUNTIME);
};
process.on('uncaughtException', onStray);
process.on('unhandledRejection', onStray);

/**
 * After the command is over, what we meant to write has been written (every write is awaited);
 * what still holds the event loop then (a write to a pipe nobody reads, a socket a peer keeps
 * open) must not keep a finished command alive: the process ends this long after main() returned.
 */
const EXIT_GRACE_MS = 1_000;

const code = await main(process.argv);
process.exitCode = code;
setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
