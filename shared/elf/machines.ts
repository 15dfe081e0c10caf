/**
 * The architectures a core can be of, by ELF e_machine, and their names as
 * utsname.machine spells them (what a kdump-compressed header records and
 * crash compares against its own build).
 */
import { EM_AARCH64, EM_X86_64 } from './core.js';

export function machineName(machine: number): string {
  switch (machine) {
    case EM_X86_64: return 'x86_64';
    case EM_AARCH64: return 'aarch64';
    default: return `unknown-${machine}`;
  }
}

/**
 * The e_machine of a utsname.machine, or undefined for one we do not know.
 * An empty name (a header that does not say) is taken as x86_64, the only
 * architecture stored dumps had before arm64.
 */
export function machineOfUtsname(name: string): number | undefined {
  switch (name) {
    case '': case 'x86_64': return EM_X86_64;
    case 'aarch64': return EM_AARCH64;
    default: return undefined;
  }
}
