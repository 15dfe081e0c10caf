/**
 * What a crashed kernel's log says about the crash: the panic line, the
 * report that led to it (BUG, Oops, WARNING, lockup, hung task), where it
 * happened (the kernel-mode RIP) and how it got there (the call trace), and
 * a signature that groups crashes of the same bug across hosts, boots and
 * uptimes (docs/research/dmesg-extraction.md section 4). Pure: log text in,
 * summary out.
 *
 * The report is found by shape, not by time: every line of a panic may carry
 * the same timestamp, and a report's lines may carry different ones.
 *
 *   - panicLine: the last "Kernel panic - not syncing: ..." line.
 *   - bugLine: the first report head ("BUG: ", "Oops: ", "WARNING: ", ...) of
 *     the unbroken run of report lines that ends at the panic line. A sysrq
 *     or OOM panic has none. With kdump loaded an Oops usually never reaches
 *     panic() (crash_kexec runs first), so without a panic line the last
 *     report in the log is taken.
 *   - call trace: the first "Call Trace:" of that report, else the one panic()
 *     printed; reliable frames only ("? " ones are stack-scan guesses that
 *     differ between two crashes of one bug), minus the frames of the
 *     panic/oops machinery itself.
 *   - ripSymbol: a "RIP: 0010:" (kernel mode) line before that trace. The
 *     user-mode "RIP: 0033:" of a syscall frame is not the crash site.
 *
 * arm64 reports have the same parts in other words: "Call trace:" (lower-case
 * t), the crash site as "pc : func+0x28/0x30", registers "x29: ..." and
 * "pstate: ...", and fault details under "Mem abort info:". Their machinery
 * frames (dump_backtrace, die, el1h_64_sync, ...) are left out like x86_64's.
 * arm64 prints each caller's return address as it is (x86_64 prints it less
 * one): where a function ends in a call to a noreturn function (panic,
 * BUG), the return address is the first byte of the next function, printed
 * as "next_function+0x0/0x..". That name comes from the kernel's layout, not
 * from the crash, so a frame at +0x0 other than the innermost is left out.
 */
import { createHash } from 'node:crypto';

/** 'report': a BUG/Oops/WARNING/lockup/hung-task report (bugLine); 'panic': a bare panic; 'none': neither. */
export type CrashKind = 'report' | 'panic' | 'none';

export interface CrashSummary {
  kind: CrashKind;
  /** "Kernel panic - not syncing: ...", without the timestamp. */
  panicLine: string | null;
  /** The report head that led to the panic: "BUG: ...", "kernel BUG at ...", "Oops: ...", "WARNING: ...". */
  bugLine: string | null;
  /** Function of the kernel-mode RIP ("RIP: 0010:func+0x16/0x20 [mod]" -> "func"; arm64: "pc : func+0x28/0x30"). */
  ripSymbol: string | null;
  /** Module of that RIP ("mod"), null for the core kernel. */
  ripModule: string | null;
  /** Reliable frames of the crash's call trace, innermost first: function names only, compiler suffixes removed. */
  callTrace: string[];
  /** bugLine ?? panicLine ?? 'no panic line in the log'. */
  reason: string;
  /** 16 hex digits: sha256 of signatureText. */
  signature: string;
  /** What the signature is computed over; shows why two crashes match. */
  signatureText: string;
}

/** Bumped when the normalisation changes, so old and new signatures never collide by accident. */
const SIGNATURE_VERSION = 'v1';
const SIGNATURE_FRAMES = 5;
const MAX_TRACE_FRAMES = 16;
/** A trace longer than this is not a trace; stops a walk over garbage. */
const MAX_TRACE_LINES = 400;
/** Report heads are one short line; a longer one (up to 64 KiB) is cut so the rewrites below stay cheap. */
const MAX_REASON_CHARS = 512;

const PANIC = /^Kernel panic - not syncing: /;
const REPORT_HEAD = /^(BUG: |kernel BUG at |Oops: |Oops |general protection fault|invalid opcode: |stack segment: |double fault: |divide error: |WARNING: |watchdog: BUG: |watchdog: Watchdog detected hard LOCKUP|INFO: task .+ blocked for more than|rcu: INFO: |UBSAN: |KASAN: |Unable to handle kernel |Internal error: )/;
/** Lines a crash report is made of, besides heads, frames, markers and registers. */
const REPORT_BODY = /^(CPU: \d+ PID: |Hardware name: |Call Trace:|Call trace:|Modules linked in:|---\[ end trace|-+\[ cut here \]-+|#PF: |PGD |P4D |Not tainted|Tainted: |"echo 0 > |task:\S*\s+state:|Workqueue: |Stack:|irq event stamp:|hardirqs last|softirqs last|CR2: |Kernel Offset:|Sending NMI|NMI backtrace|Showing all locks|note: |Unloaded tainted modules:|Code: |RIP: |Mem abort info:|Data abort info:|(ESR|EC|IL|SET|FnV|EA|S1PTW|FSC|ISV|ISS|ISS2|CM|WnR|TnD|TagAccess|GCS|Overlay|DirtyBit|Xs) = |(user|swapper) pgtable: |\[[0-9a-f]{16}\] |pstate: |(pc|lr|sp) : )/;
const TRACE_MARKER = /^<\/?(IRQ|TASK|NMI|SOFTIRQ|EOI|EOE|#DF|DF)>$/;
const REGISTER_LINE = /^(?:(RIP|RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R8|R9|R1[0-5]|FS|GS|CS|DS|ES|CR[0-4]|DR[0-7]|PKRU|Code|ORIG_RAX):|x\d+\s*: |pstate: |(pc|lr|sp) : )/;
/** " func+0x16/0x20 [mod]", " ? func+0x16/0x20", old kernels' " [<ffffffff81234567>] func+0x16/0x20". */
const FRAME = /^(?:\[<[0-9a-f]+>\] ?)?(\? )?([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[([^\]\s]+)[^\]]*\])?$/;
const KERNEL_RIP = /^(?:RIP: 0010:|pc : )([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[([^\]\s]+)[^\]]*\])?/;
/** The crash site's line: x86_64's RIP (kernel or user mode), arm64's pc (an arm64 report is always of kernel mode). */
const ANY_RIP = /^(RIP: [0-9a-f]{4}:|pc : )/;
/** A frame at offset 0 of its function: below the innermost frame, a return address past a noreturn call. */
const RETURN_TO_NEXT_FUNCTION = /\+0x0\/0x[0-9a-f]+(?: \[[^\]]*\])?$/;
const isTraceStart = (t: string) => t.startsWith('Call Trace:') || t.startsWith('Call trace:');
/** GCC/LLVM clones and splits of one function: foo.cold, foo.isra.0, foo.constprop.0.cold, foo.llvm.123. */
const COMPILER_SUFFIX = /(\.(cold|isra|constprop|part|lto_priv|llvm|localalias|clone)(\.\d+)?)+$/;
/** Frames of the reporting itself, the same for every crash. */
const MACHINERY = new Set([
  'dump_stack_lvl', 'dump_stack', 'show_stack', 'show_trace_log_lvl', 'panic', 'vpanic', 'nmi_panic', 'check_panic_on_warn', '__warn',
  'warn_slowpath_fmt', 'report_bug', 'handle_bug', 'exc_invalid_op', 'die', 'die_addr', 'oops_end', 'do_trap', 'do_error_trap',
  'page_fault_oops', 'kernelmode_fixup_or_oops', 'no_context', 'do_user_addr_fault', 'exc_page_fault', 'exc_general_protection',
  'do_kern_addr_fault', 'spurious_kernel_fault',
  // arm64
  'dump_backtrace', 'arm64_notify_die', 'die_kernel_fault', '__do_kernel_fault', 'do_page_fault', 'do_translation_fault', 'do_mem_abort',
  'do_bad_area', 'el1_abort', 'el1_dbg', 'el1h_64_sync_handler', 'el1h_64_sync', 'bug_handler', 'call_break_hook', 'brk_handler',
  'do_debug_exception', 'bug_brk_handler', 'early_brk64',
]);
const isMachinery = (name: string) =>
  MACHINERY.has(name) || name.startsWith('asm_exc_') || name.startsWith('__die') || name.endsWith('bad_area_nosemaphore');

/** The record text of a log line: no "[   15.192802] " stamp, no "[    T1] " caller column, no "<4>" level. */
function stripPrefix(line: string): string {
  return line.replace(/^<\d+>/, '').replace(/^\[\s*\d+\.\d+\] ?/, '').replace(/^\[\s*[TC]\d+\] ?/, '').trimEnd();
}

export function functionName(symbol: string): string {
  return symbol.replace(COMPILER_SUFFIX, '');
}

const isFrame = (t: string) => FRAME.test(t);
const isReportLine = (t: string) => REPORT_HEAD.test(t) || REPORT_BODY.test(t) || isFrame(t) || TRACE_MARKER.test(t) || REGISTER_LINE.test(t);

/** First index in [from, to) whose trimmed line matches. */
function findIndex(lines: string[], from: number, to: number, test: (t: string) => boolean): number {
  for (let i = Math.max(0, from); i < Math.min(to, lines.length); i++) if (test(lines[i])) return i;
  return -1;
}

function findLastIndex(lines: string[], test: (t: string) => boolean): number {
  for (let i = lines.length - 1; i >= 0; i--) if (test(lines[i])) return i;
  return -1;
}

/** The earliest report head in the unbroken run of report lines that ends at `end` (exclusive). */
function reportHeadBefore(lines: string[], end: number): number {
  let start = end;
  while (start > 0 && isReportLine(lines[start - 1])) start--;
  return findIndex(lines, start, end, (t) => REPORT_HEAD.test(t));
}

/** Reliable, non-machinery frames of the trace whose "Call Trace:" line is at `at`. */
function traceFrames(lines: string[], at: number): string[] {
  const frames: string[] = [];
  for (let i = at + 1; i < Math.min(lines.length, at + 1 + MAX_TRACE_LINES); i++) {
    const t = lines[i];
    if (t === '</TASK>') break;
    const frame = FRAME.exec(t);
    if (frame) {
      const name = functionName(frame[2]);
      const pastNoreturnCall = i > at + 1 && RETURN_TO_NEXT_FUNCTION.test(t);
      if (!frame[1] && !isMachinery(name) && !pastNoreturnCall) frames.push(name);
      continue;
    }
    // Inside a trace: <IRQ>/<TASK> markers, and the registers of an entry frame.
    if (TRACE_MARKER.test(t) || REGISTER_LINE.test(t)) continue;
    break;
  }
  return frames.slice(0, MAX_TRACE_FRAMES);
}

/** The reason line with everything that differs between two crashes of one bug replaced or removed. */
export function normaliseReason(line: string): string {
  return line.slice(0, MAX_REASON_CHARS)
    .replace(/([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+/g, (_, symbol: string) => functionName(symbol))
    .replace(/\bCPU: \d+ PID: \d+ at /, 'at ') // WARNING: CPU: 1 PID: 42 at file:line
    .replace(/\bCPU#\d+/g, 'CPU#?')
    .replace(/\b(CPU|PID): ?\d+/g, '')
    .replace(/\bComm: \S+/g, '')
    .replace(/\bKdump: loaded\b/g, '')
    .replace(/\btask .+:\d+ blocked\b/, 'task ? blocked') // comm may hold spaces and colons
    .replace(/ \[[^\]]*:\d+\]/g, '') // soft lockup's [comm:pid]
    .replace(/(: [^:]+: ).+\/\d+\/0x[0-9a-f]+$/, '$1?') // scheduling while atomic: comm/pid/preempt_count
    .replace(/\bin process \S+/g, 'in process ?')
    .replace(/\bpfn:[0-9a-f]+/g, 'pfn:?')
    .replace(/\s*\[#\d+\].*$/, '') // Oops count and build flags: "[#1] PREEMPT SMP NOPTI"
    .replace(/stuck for \d+s/g, 'stuck for ?s')
    .replace(/0x[0-9a-f]+/gi, '?')
    .replace(/\b[0-9a-f]{8,}\b/gi, '?')
    .replace(/(?<![\w?-])\d+(?!\w)/g, 'N') // counts, line numbers, timeouts; not -ERRNO, not inside names
    .replace(/\s+/g, ' ')
    .trim();
}

export function summarizeCrash(log: string): CrashSummary {
  const lines = log.split('\n').map((line) => stripPrefix(line).trim());
  const panicAt = findLastIndex(lines, (t) => PANIC.test(t));
  const headAt = panicAt >= 0
    ? reportHeadBefore(lines, panicAt)
    : (() => {
      const last = findLastIndex(lines, (t) => REPORT_HEAD.test(t));
      return last < 0 ? -1 : reportHeadBefore(lines, last + 1);
    })();

  // The report's own trace and registers; for a bare panic, what panic() printed after its line.
  const from = headAt >= 0 ? headAt : panicAt + 1;
  const to = headAt >= 0 && panicAt > headAt ? panicAt : lines.length;
  const found = panicAt >= 0 || headAt >= 0;
  let traceAt = found ? findIndex(lines, from, to, isTraceStart) : -1;
  const ripAt = found ? findIndex(lines, from, traceAt >= 0 ? traceAt : to, (t) => ANY_RIP.test(t)) : -1;
  if (traceAt < 0 && headAt >= 0 && panicAt > headAt) traceAt = findIndex(lines, panicAt + 1, lines.length, isTraceStart);
  const rip = ripAt >= 0 ? KERNEL_RIP.exec(lines[ripAt]) : null;

  const panicLine = panicAt >= 0 ? lines[panicAt] : null;
  const bugLine = headAt >= 0 ? lines[headAt] : null;
  const ripSymbol = rip ? functionName(rip[1]) : null;
  const ripModule = rip?.[2] ?? null;
  const callTrace = traceAt >= 0 ? traceFrames(lines, traceAt) : [];
  const reason = bugLine ?? panicLine ?? 'no panic line in the log';
  const signatureText = [
    `crash signature ${SIGNATURE_VERSION}`,
    `reason: ${bugLine ?? panicLine ? normaliseReason(reason) : '-'}`,
    `rip: ${ripSymbol ? `${ripSymbol}${ripModule ? ` [${ripModule}]` : ''}` : '-'}`,
    `frames: ${callTrace.slice(0, SIGNATURE_FRAMES).join(' < ') || '-'}`,
  ].join('\n');
  return {
    kind: bugLine ? 'report' : panicLine ? 'panic' : 'none',
    panicLine,
    bugLine,
    ripSymbol,
    ripModule,
    callTrace,
    reason,
    signature: createHash('sha256').update(signatureText).digest('hex').slice(0, 16),
    signatureText,
  };
}
