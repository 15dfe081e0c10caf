/**
 * Crash triage from the kernel log text, on 6.1 x86_64 report shapes written
 * for these tests (vmcore-dmesg output: "[%5u.%06u] " prefixes,
 * continuation lines unprefixed). Two crashes of one bug on different hosts,
 * CPUs, tasks and uptimes must share a signature; different bugs must not.
 */
import { describe, expect, it } from 'vitest';
import { normaliseReason, summarizeCrash } from '../../receiver/triage/crash-summary.js';

/** Gives each line a vmcore-dmesg timestamp, advancing from `start` seconds. */
function log(start: number, lines: string[]): string {
  return lines.map((line, i) => {
    const us = Math.round(start * 1e6) + i * 7;
    return `[${String(Math.floor(us / 1e6)).padStart(5, ' ')}.${String(us % 1e6).padStart(6, '0')}] ${line}`;
  }).join('\n') + '\n';
}

const BOOT = [
  'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2',
  'Command line: BOOT_IMAGE=/vmlinuz-6.1.0-56-amd64 root=/dev/vda1 ro console=ttyS0 crashkernel=256M',
  'x86/fpu: Supporting XSAVE feature 0x001: \'x87 floating point registers\'',
  'EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.',
];

const REGISTERS = (rax: string) => [
  'RSP: 0018:ffffb3c1c0d47e38 EFLAGS: 00010246',
  `RAX: ${rax} RBX: ffff9e0a4b2c7000 RCX: 0000000000000000`,
  'RDX: 0000000000000001 RSI: 00005603d1c2b6b0 RDI: ffff9e0a4b2c7000',
  'RBP: ffff9e0a41a3e000 R08: 0000000000000000 R09: 0000000000000000',
  'R10: 0000000000000000 R11: 0000000000000000 R12: 0000000000000002',
  'R13: ffffb3c1c0d47f08 R14: 00005603d1c2b6b0 R15: ffff9e0a41a3e000',
  'FS:  00007f1e2a3e7740(0000) GS:ffff9e0bbfd80000(0000) knlGS:0000000000000000',
  'CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033',
  'CR2: 0000000000000008 CR3: 000000010a2b4000 CR4: 00000000000006e0',
];

/** A NULL pointer write in a module's /proc write handler; with kdump loaded the log ends at the report. */
function moduleOops(o: { cpu: number; pid: number; comm: string; t: number; address: string; rax: string; panic: boolean; extraGuess: boolean }): string {
  return log(o.t, [
    ...BOOT,
    'buggy: loading out-of-tree module taints kernel.',
    `BUG: kernel NULL pointer dereference, address: ${o.address}`,
    '#PF: supervisor write access in kernel mode',
    '#PF: error_code(0x0002) - not-present page',
    'PGD 0 P4D 0 ',
    'Oops: 0002 [#1] PREEMPT SMP NOPTI',
    `CPU: ${o.cpu} PID: ${o.pid} Comm: ${o.comm} Kdump: loaded Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2`,
    'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'RIP: 0010:buggy_write+0x16/0x30 [buggy]',
    'Code: 00 00 0f 1f 44 00 00 48 8b 07 <c7> 40 08 2a 00 00 00 31 c0 c3 cc cc cc cc 66 0f 1f 84 00 00 00 00 00',
    ...REGISTERS(o.rax),
    'PKRU: 55555554',
    'Call Trace:',
    ' <TASK>',
    ' ? __die_body.cold+0x1a/0x1f',
    ' ? page_fault_oops+0xd2/0x2b0',
    ...(o.extraGuess ? [' ? do_user_addr_fault+0x1b3/0x580'] : []),
    ' ? exc_page_fault+0x70/0x170',
    ' ? asm_exc_page_fault+0x22/0x30',
    ' ? buggy_write+0x16/0x30 [buggy]',
    ' proc_reg_write+0x56/0xa0',
    ' vfs_write+0xc7/0x3f0',
    ' ksys_write+0x6b/0xf0',
    ' do_syscall_64+0x5d/0xb0',
    ...(o.extraGuess ? [' ? exit_to_user_mode_prepare+0x40/0x1e0'] : []),
    ' entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
    'RIP: 0033:0x7f1e2a4f1f33',
    'Code: 8b 15 b9 a0 0d 00 f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f 1f 00 64 8b 04 25 18 00 00 00 85 c0 75 14 b8 01 00 00 00 0f 05 <48> 3d 00 f0 ff ff 77 55 c3 0f 1f 40 00',
    'RSP: 002b:00007ffd5b3e8c08 EFLAGS: 00000246 ORIG_RAX: 0000000000000001',
    ' </TASK>',
    'Modules linked in: buggy(OE) nls_ascii nls_cp437 vfat fat virtio_net net_failover failover ext4 crc16 mbcache jbd2',
    'CR2: 0000000000000008',
    '---[ end trace 0000000000000000 ]---',
    'RIP: 0010:buggy_write+0x16/0x30 [buggy]',
    ...REGISTERS(o.rax),
    ...(o.panic ? ['Kernel panic - not syncing: Fatal exception', 'Kernel Offset: 0x31600000 from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)'] : []),
  ]);
}

/** A NULL dereference in core kernel code, in interrupt: panic_on_oops reaches panic(). */
function nullDerefInterrupt(cpu: number, t: number): string {
  return log(t, [
    ...BOOT,
    'BUG: kernel NULL pointer dereference, address: 0000000000000010',
    '#PF: supervisor read access in kernel mode',
    '#PF: error_code(0x0000) - not-present page',
    'PGD 0 P4D 0 ',
    'Oops: 0000 [#1] PREEMPT SMP NOPTI',
    `CPU: ${cpu} PID: 0 Comm: swapper/${cpu} Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2`,
    'Hardware name: Dell Inc. PowerEdge R650/0Y2G81, BIOS 1.8.2 09/14/2022',
    'RIP: 0010:skb_release_data.isra.0+0x4e/0x1c0',
    'Code: 48 8b 87 c8 00 00 00 <48> 8b 50 10 48 85 d2 74 1c',
    ...REGISTERS('0000000000000000'),
    'Call Trace:',
    ' <IRQ>',
    ' __kfree_skb+0x1f/0x40',
    ' net_rx_action+0x2a6/0x3a0',
    ' __do_softirq+0xf0/0x2fe',
    ' __irq_exit_rcu+0xc7/0x130',
    ' common_interrupt+0xb9/0xd0',
    ' </IRQ>',
    ' <TASK>',
    ' asm_common_interrupt+0x22/0x40',
    'RIP: 0010:default_idle+0xb/0x10',
    ' </TASK>',
    'Modules linked in: mlx5_core mlxfw tls psample pci_hyperv_intf',
    'CR2: 0000000000000010',
    '---[ end trace 0000000000000000 ]---',
    'Kernel panic - not syncing: Fatal exception in interrupt',
  ]);
}

/** echo c > /proc/sysrq-trigger, as in the real fixtures (6.1: panic() itself, no Oops). */
function sysrqPanic(cpu: number, t: number, guesses: string[]): string {
  return log(t, [
    ...BOOT,
    'sysrq: Trigger a crash',
    'Kernel panic - not syncing: sysrq triggered crash',
    `CPU: ${cpu} PID: 1 Comm: init Kdump: loaded Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2`,
    'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'Call Trace:',
    ' <TASK>',
    ' dump_stack_lvl+0x44/0x5c',
    ' panic+0x118/0x2f4',
    ' ? _printk+0x68/0x83',
    ' sysrq_handle_crash+0x16/0x20',
    ' __handle_sysrq.cold+0x44/0x11c',
    ' write_sysrq_trigger+0x24/0x40',
    ' proc_reg_write+0x56/0xa0',
    ' vfs_write+0xc7/0x3f0',
    ...guesses.map((g) => ` ? ${g}`),
    ' ksys_write+0x6b/0xf0',
    ' do_syscall_64+0x5d/0xb0',
    ' entry_SYSCALL_64_after_hwframe+0x6e/0xd8',
    'RIP: 0033:0x47b7a0',
    'RSP: 002b:00007fff7844cb98 EFLAGS: 00000202 ORIG_RAX: 0000000000000001',
    ' </TASK>',
  ]);
}

function hungTask(o: { task: string; pid: number; seconds: number; t: number }): string {
  return log(o.t, [
    ...BOOT,
    `INFO: task ${o.task}:${o.pid} blocked for more than ${o.seconds} seconds.`,
    '      Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2',
    '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
    `task:${o.task.padEnd(15, ' ')} state:D stack:0     pid:${o.pid}   ppid:2      flags:0x00004000`,
    'Call Trace:',
    ' <TASK>',
    ' __schedule+0x34d/0x9e0',
    ' schedule+0x5a/0xd0',
    ' io_schedule+0x42/0x70',
    ' bit_wait_io+0xd/0x60',
    ' __wait_on_bit+0x4b/0x140',
    ' ? bit_wait+0x60/0x60',
    ' out_of_line_wait_on_bit+0x91/0xb0',
    ' jbd2_journal_commit_transaction+0x1667/0x1a90 [jbd2]',
    ' kjournald2+0xa9/0x280 [jbd2]',
    ' kthread+0xd7/0x100',
    ' ? kthread_complete_and_exit+0x20/0x20',
    ' ret_from_fork+0x1f/0x30',
    ' </TASK>',
    'Kernel panic - not syncing: hung_task: blocked tasks',
    'CPU: 2 PID: 35 Comm: khungtaskd Kdump: loaded Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2',
    'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'Call Trace:',
    ' <TASK>',
    ' dump_stack_lvl+0x44/0x5c',
    ' panic+0x118/0x2f4',
    ' watchdog.cold+0x118/0x118',
    ' kthread+0xd7/0x100',
    ' ret_from_fork+0x1f/0x30',
    ' </TASK>',
  ]);
}

function softLockup(o: { cpu: number; pid: number; seconds: number; t: number }): string {
  return log(o.t, [
    ...BOOT,
    `watchdog: BUG: soft lockup - CPU#${o.cpu} stuck for ${o.seconds}s! [spinner:${o.pid}]`,
    'Modules linked in: spinner(OE) nls_ascii nls_cp437 vfat fat',
    `CPU: ${o.cpu} PID: ${o.pid} Comm: spinner Kdump: loaded Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2`,
    'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'RIP: 0010:spin_forever+0x12/0x20 [spinner]',
    'Code: cc cc cc cc 0f 1f 44 00 00 eb fe 66 2e 0f 1f 84 00 00 00 00 00 <eb> fe',
    ...REGISTERS('0000000000000000'),
    'Call Trace:',
    ' <TASK>',
    ' spinner_thread+0x1d/0x30 [spinner]',
    ' kthread+0xd7/0x100',
    ' ? kthread_complete_and_exit+0x20/0x20',
    ' ret_from_fork+0x1f/0x30',
    ' </TASK>',
    'Kernel panic - not syncing: softlockup: hung tasks',
    `CPU: ${o.cpu} PID: ${o.pid} Comm: spinner Kdump: loaded Tainted: G           OEL     6.1.0-56-amd64 #1  Debian 6.1.192-2`,
    'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'Call Trace:',
    ' <IRQ>',
    ' dump_stack_lvl+0x44/0x5c',
    ' panic+0x118/0x2f4',
    ' watchdog_timer_fn.cold+0x26/0x3f',
    ' __hrtimer_run_queues+0x108/0x280',
    ' hrtimer_interrupt+0xfe/0x240',
    ' </IRQ>',
    ' <TASK>',
    ' asm_sysvec_apic_timer_interrupt+0x16/0x20',
    'RIP: 0010:spin_forever+0x12/0x20 [spinner]',
    ' </TASK>',
  ]);
}

const kernelBug = (line: number) => log(42, [
  ...BOOT,
  '------------[ cut here ]------------',
  `kernel BUG at fs/ext4/inode.c:${line}!`,
  'invalid opcode: 0000 [#1] PREEMPT SMP NOPTI',
  'CPU: 0 PID: 977 Comm: kworker/u8:3 Kdump: loaded Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2',
  'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
  'Workqueue: writeback wb_workfn (flush-254:0)',
  'RIP: 0010:ext4_writepages.cold+0x1f/0x21 [ext4]',
  ...REGISTERS('0000000000000000'),
  'Call Trace:',
  ' <TASK>',
  ' ? __die_body.cold+0x1a/0x1f',
  ' ? die+0x2a/0x50',
  ' ? do_trap+0xc5/0x110',
  ' do_writepages+0xbd/0x1c0',
  ' __writeback_single_inode+0x3d/0x360',
  ' writeback_sb_inodes+0x1ed/0x4a0',
  ' wb_writeback+0x7f/0x2e0',
  ' wb_workfn+0x1f4/0x4c0',
  ' process_one_work+0x1c4/0x380',
  ' </TASK>',
  'Modules linked in: ext4 crc16 mbcache jbd2',
  '---[ end trace 0000000000000000 ]---',
]);

const warnOnPanic = log(88, [
  ...BOOT,
  '------------[ cut here ]------------',
  'WARNING: CPU: 2 PID: 311 at drivers/net/virtio_net.c:1878 virtnet_poll_tx+0x131/0x150 [virtio_net]',
  'Modules linked in: virtio_net net_failover failover',
  'CPU: 2 PID: 311 Comm: napi/eth0-1 Kdump: loaded Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2',
  'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
  'RIP: 0010:virtnet_poll_tx+0x131/0x150 [virtio_net]',
  ...REGISTERS('0000000000000000'),
  'Call Trace:',
  ' <TASK>',
  ' __napi_poll+0x2b/0x160',
  ' napi_threaded_poll+0x5e/0x130',
  ' kthread+0xd7/0x100',
  ' ret_from_fork+0x1f/0x30',
  ' </TASK>',
  'Kernel panic - not syncing: kernel: panic_on_warn set ...',
  'CPU: 2 PID: 311 Comm: napi/eth0-1 Kdump: loaded Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x44/0x5c',
  ' panic+0x118/0x2f4',
  ' check_panic_on_warn.cold+0x13/0x13',
  ' __warn+0x81/0x130',
  ' </TASK>',
]);

describe('crash summary', () => {
  it('an Oops in a module with no panic line (kdump ran first): the BUG line, the module RIP, the reliable frames', () => {
    const s = summarizeCrash(moduleOops({ cpu: 3, pid: 4242, comm: 'bash', t: 123.4, address: '0000000000000008', rax: '0000000000000000', panic: false, extraGuess: false }));
    expect(s).toMatchObject({
      kind: 'report',
      panicLine: null,
      bugLine: 'BUG: kernel NULL pointer dereference, address: 0000000000000008',
      ripSymbol: 'buggy_write',
      ripModule: 'buggy',
      callTrace: ['proc_reg_write', 'vfs_write', 'ksys_write', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'],
      reason: 'BUG: kernel NULL pointer dereference, address: 0000000000000008',
    });
    expect(s.signature).toMatch(/^[0-9a-f]{16}$/);
    expect(s.signatureText).toBe([
      'crash signature v1',
      'reason: BUG: kernel NULL pointer dereference, address: ?',
      'rip: buggy_write [buggy]',
      'frames: proc_reg_write < vfs_write < ksys_write < do_syscall_64 < entry_SYSCALL_64_after_hwframe',
    ].join('\n'));
  });

  it('the same Oops on another host, CPU, task and uptime, reaching panic("Fatal exception") this time, has the same signature', () => {
    const a = summarizeCrash(moduleOops({ cpu: 3, pid: 4242, comm: 'bash', t: 123.4, address: '0000000000000008', rax: '0000000000000000', panic: false, extraGuess: false }));
    const b = summarizeCrash(moduleOops({ cpu: 0, pid: 17, comm: 'python3', t: 86400.5, address: '0000000000000008', rax: 'ffff9e0a4b2c7000', panic: true, extraGuess: true }));
    expect(b.panicLine).toBe('Kernel panic - not syncing: Fatal exception');
    expect(b.bugLine).toBe(a.bugLine);
    expect(b.signature).toBe(a.signature);
  });

  it('a NULL dereference in interrupt: the core-kernel RIP with its compiler suffix removed, the IRQ-stack frames', () => {
    const s = summarizeCrash(nullDerefInterrupt(5, 3600));
    expect(s).toMatchObject({
      kind: 'report',
      panicLine: 'Kernel panic - not syncing: Fatal exception in interrupt',
      bugLine: 'BUG: kernel NULL pointer dereference, address: 0000000000000010',
      ripSymbol: 'skb_release_data',
      ripModule: null,
      callTrace: ['__kfree_skb', 'net_rx_action', '__do_softirq', '__irq_exit_rcu', 'common_interrupt', 'asm_common_interrupt'],
    });
    expect(summarizeCrash(nullDerefInterrupt(11, 7)).signature).toBe(s.signature);
  });

  it('a sysrq panic: the panic line is the reason; the user-mode RIP is no crash site; "? " frames do not matter', () => {
    const idle = summarizeCrash(sysrqPanic(0, 14.9, ['alloc_fd+0xb5/0x150']));
    const busy = summarizeCrash(sysrqPanic(1, 15.19, ['__x64_sys_fcntl+0x90/0xc0', 'syscall_exit_to_user_mode+0x1e/0x40']));
    expect(idle).toMatchObject({
      kind: 'panic',
      panicLine: 'Kernel panic - not syncing: sysrq triggered crash',
      bugLine: null,
      ripSymbol: null,
      ripModule: null,
      callTrace: ['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write', 'ksys_write', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'],
      reason: 'Kernel panic - not syncing: sysrq triggered crash',
    });
    expect(busy.signature).toBe(idle.signature);
  });

  it('a hung-task panic: the blocked task\'s report and stack, not khungtaskd\'s', () => {
    const s = summarizeCrash(hungTask({ task: 'jbd2/vda1-8', pid: 245, seconds: 120, t: 1234.5 }));
    expect(s).toMatchObject({
      kind: 'report',
      panicLine: 'Kernel panic - not syncing: hung_task: blocked tasks',
      bugLine: 'INFO: task jbd2/vda1-8:245 blocked for more than 120 seconds.',
      ripSymbol: null,
      callTrace: ['__schedule', 'schedule', 'io_schedule', 'bit_wait_io', '__wait_on_bit', 'out_of_line_wait_on_bit',
        'jbd2_journal_commit_transaction', 'kjournald2', 'kthread', 'ret_from_fork'],
    });
    expect(s.signatureText).toContain('reason: INFO: task ? blocked for more than N seconds.');
    expect(summarizeCrash(hungTask({ task: 'jbd2/sdb3-8', pid: 9913, seconds: 240, t: 99999 })).signature).toBe(s.signature);
  });

  it('a soft-lockup panic: the lockup report, the spinning function, the spinning thread\'s frames', () => {
    const s = summarizeCrash(softLockup({ cpu: 1, pid: 812, seconds: 22, t: 876.1 }));
    expect(s).toMatchObject({
      kind: 'report',
      panicLine: 'Kernel panic - not syncing: softlockup: hung tasks',
      bugLine: 'watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spinner:812]',
      ripSymbol: 'spin_forever',
      ripModule: 'spinner',
      callTrace: ['spinner_thread', 'kthread', 'ret_from_fork'],
    });
    expect(s.signatureText).toContain('reason: watchdog: BUG: soft lockup - CPU#? stuck for ?s!');
    expect(summarizeCrash(softLockup({ cpu: 7, pid: 30111, seconds: 48, t: 5 })).signature).toBe(s.signature);
  });

  it('kernel BUG at file:line and a WARNING with panic_on_warn', () => {
    const bug = summarizeCrash(kernelBug(2417));
    expect(bug).toMatchObject({
      bugLine: 'kernel BUG at fs/ext4/inode.c:2417!',
      ripSymbol: 'ext4_writepages',
      ripModule: 'ext4',
      callTrace: ['do_writepages', '__writeback_single_inode', 'writeback_sb_inodes', 'wb_writeback', 'wb_workfn', 'process_one_work'],
    });
    const warn = summarizeCrash(warnOnPanic);
    expect(warn).toMatchObject({
      panicLine: 'Kernel panic - not syncing: kernel: panic_on_warn set ...',
      bugLine: 'WARNING: CPU: 2 PID: 311 at drivers/net/virtio_net.c:1878 virtnet_poll_tx+0x131/0x150 [virtio_net]',
      ripSymbol: 'virtnet_poll_tx',
      callTrace: ['__napi_poll', 'napi_threaded_poll', 'kthread', 'ret_from_fork'],
    });
    expect(warn.signatureText).toContain('reason: WARNING: at drivers/net/virtio_net.c:N virtnet_poll_tx [virtio_net]');
  });

  it('a log with no panic line and no report says so', () => {
    const s = summarizeCrash(log(1, [...BOOT, 'random: crng init done', 'systemd[1]: Started Journal Service.']));
    expect(s).toMatchObject({ kind: 'none', panicLine: null, bugLine: null, ripSymbol: null, ripModule: null, callTrace: [], reason: 'no panic line in the log' });
    expect(s.signature).toMatch(/^[0-9a-f]{16}$/);
    expect(summarizeCrash('').reason).toBe('no panic line in the log');
  });

  it('an old WARNING separated from a later sysrq panic is not taken for its cause', () => {
    const text = log(5, [
      ...BOOT,
      '------------[ cut here ]------------',
      'WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5534 __alloc_pages+0x2c4/0x330',
      'Call Trace:',
      ' <TASK>',
      ' alloc_pages+0x90/0x1a0',
      ' </TASK>',
      '---[ end trace 0000000000000000 ]---',
      'systemd[1]: Reached target Basic System.',
      'sysrq: Trigger a crash',
    ]) + sysrqPanic(0, 99, []).split('\n').slice(BOOT.length + 1).join('\n');
    const s = summarizeCrash(text);
    expect(s.kind).toBe('panic');
    expect(s.bugLine).toBeNull();
    expect(s.callTrace[0]).toBe('sysrq_handle_crash');
  });

  it('different bugs get different signatures', () => {
    const signatures = [
      moduleOops({ cpu: 3, pid: 4242, comm: 'bash', t: 123.4, address: '0000000000000008', rax: '0000000000000000', panic: false, extraGuess: false }),
      nullDerefInterrupt(5, 3600),
      sysrqPanic(0, 14.9, []),
      hungTask({ task: 'jbd2/vda1-8', pid: 245, seconds: 120, t: 1234.5 }),
      softLockup({ cpu: 1, pid: 812, seconds: 22, t: 876.1 }),
      kernelBug(2417),
      warnOnPanic,
      log(1, BOOT),
    ].map((text) => summarizeCrash(text).signature);
    expect(new Set(signatures).size).toBe(signatures.length);
  });

  it('reads logs with a caller column or level prefixes too', () => {
    const text = sysrqPanic(0, 14.9, []).split('\n').map((line) => line.replace(/^(\[[ \d.]+\]) /, '<0>$1 [    T1] ')).join('\n');
    expect(summarizeCrash(text).signature).toBe(summarizeCrash(sysrqPanic(0, 14.9, [])).signature);
  });
});

/** arm64 (Debian 12's 6.1 on QEMU virt): the same sysrq crash, in arm64's words. */
function arm64SysrqPanic(cpu: number, t: number): string {
  return log(t, [
    'Booting Linux on physical CPU 0x0000000000 [0x000f0510]',
    'Linux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP Debian 6.1.192-3',
    'sysrq: Trigger a crash',
    'Kernel panic - not syncing: sysrq triggered crash',
    `CPU: ${cpu} PID: 1 Comm: init Kdump: loaded Not tainted 6.1.0-57-arm64 #1  Debian 6.1.192-3`,
    'Hardware name: linux,dummy-virt (DT)',
    'Call trace:',
    ' dump_backtrace+0xe4/0x140',
    ' show_stack+0x20/0x30',
    ' dump_stack_lvl+0x64/0x80',
    ' dump_stack+0x18/0x34',
    ' panic+0x184/0x364',
    // sysrq_handle_crash ends in its call to panic(): the return address is the next function's first byte.
    ' sysrq_reset_seq_param_set+0x0/0xa0',
    ' __handle_sysrq+0x90/0x19c',
    ' write_sysrq_trigger+0x7c/0xa0',
    ' proc_reg_write+0xac/0x100',
    ' vfs_write+0xd0/0x2b0',
    ' ksys_write+0x78/0x110',
    ' __arm64_sys_write+0x24/0x30',
    ' invoke_syscall+0x50/0x120',
    ' el0_svc_common.constprop.0+0x4c/0xf4',
    ' do_el0_svc+0x34/0xd0',
    ' el0_svc+0x34/0xd4',
    ' el0t_64_sync_handler+0xf4/0x120',
    ' el0t_64_sync+0x18c/0x190',
    'SMP: stopping secondary CPUs',
    'Kernel Offset: 0x4c3c0000000 from 0xffff800008000000',
    'PHYS_OFFSET: 0x40000000',
    'Memory Limit: none',
  ]);
}

/** arm64: a NULL write in a module's /proc handler, an Oops that reaches panic_on_oops. */
function arm64ModuleOops(cpu: number, pid: number, t: number, pgdp: string): string {
  return log(t, [
    'Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008',
    'Mem abort info:',
    '  ESR = 0x0000000096000046',
    '  EC = 0x25: DABT (current EL), IL = 32 bits',
    '  SET = 0, FnV = 0',
    '  EA = 0, S1PTW = 0',
    '  FSC = 0x06: level 2 translation fault',
    'Data abort info:',
    '  ISV = 0, ISS = 0x00000046',
    '  CM = 0, WnR = 1',
    `user pgtable: 4k pages, 48-bit VAs, pgdp=${pgdp}`,
    '[0000000000000008] pgd=0800000043b5e003, p4d=0800000043b5e003, pud=0800000043b5f003, pmd=0000000000000000',
    'Internal error: Oops: 0000000096000046 [#1] SMP',
    'Modules linked in: buggy(OE) virtio_net net_failover failover',
    `CPU: ${cpu} PID: ${pid} Comm: bash Kdump: loaded Tainted: G           OE      6.1.0-57-arm64 #1  Debian 6.1.192-3`,
    'Hardware name: linux,dummy-virt (DT)',
    'pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)',
    'pc : buggy_write+0x1c/0x30 [buggy]',
    'lr : proc_reg_write+0xac/0x100',
    `sp : ffff80000a3b${pid.toString(16).padStart(4, '0')}`,
    'x29: ffff80000a3bbd40 x28: ffff0000c1a8d7c0 x27: 0000000000000000',
    'x9 : ffffa3c5b0b5e1a4 x8 : 0000000000000040 x7 : 0000000000000000',
    'x2 : 0000000000000002 x1 : 0000aaaad1c2b6b0 x0 : 0000000000000000',
    'Call trace:',
    ' buggy_write+0x1c/0x30 [buggy]',
    ' proc_reg_write+0xac/0x100',
    ' vfs_write+0xd0/0x2b0',
    ' ksys_write+0x78/0x110',
    ' __arm64_sys_write+0x24/0x30',
    ' invoke_syscall+0x50/0x120',
    ' el0_svc_common.constprop.0+0x4c/0xf4',
    'Code: d503233f a9bf7bfd 910003fd 52800540 (b9000800) ',
    '---[ end trace 0000000000000000 ]---',
    'Kernel panic - not syncing: Oops: Fatal exception',
    'SMP: stopping secondary CPUs',
  ]);
}

describe('crash summary of arm64 reports', () => {
  it('a sysrq panic: arm64\'s own frames, without the machinery and the return address past panic()', () => {
    const s = summarizeCrash(arm64SysrqPanic(0, 12.5));
    expect(s).toMatchObject({
      kind: 'panic',
      panicLine: 'Kernel panic - not syncing: sysrq triggered crash',
      bugLine: null,
      ripSymbol: null,
      callTrace: ['__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write', 'ksys_write', '__arm64_sys_write',
        'invoke_syscall', 'el0_svc_common', 'do_el0_svc', 'el0_svc', 'el0t_64_sync_handler', 'el0t_64_sync'],
    });
    expect(summarizeCrash(arm64SysrqPanic(1, 300.25)).signature).toBe(s.signature);
  });

  it('an Oops: the first report head, the pc as the crash site with its module, registers and fault details inside the report', () => {
    const s = summarizeCrash(arm64ModuleOops(2, 4242, 77.5, '0000000043b5d000'));
    expect(s).toMatchObject({
      kind: 'report',
      panicLine: 'Kernel panic - not syncing: Oops: Fatal exception',
      bugLine: 'Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008',
      ripSymbol: 'buggy_write',
      ripModule: 'buggy',
      callTrace: ['buggy_write', 'proc_reg_write', 'vfs_write', 'ksys_write', '__arm64_sys_write', 'invoke_syscall', 'el0_svc_common'],
    });
    expect(summarizeCrash(arm64ModuleOops(0, 17, 9000.125, '0000000051a2c000')).signature).toBe(s.signature);
    expect(s.signature).not.toBe(summarizeCrash(arm64SysrqPanic(0, 12.5)).signature);
    // A fault on a function's first instruction: the innermost frame is the pc itself, kept at +0x0.
    const atEntry = arm64ModuleOops(2, 4242, 77.5, '0000000043b5d000').replace(' buggy_write+0x1c/0x30 [buggy]\n', ' buggy_write+0x0/0x30 [buggy]\n');
    expect(summarizeCrash(atEntry).callTrace[0]).toBe('buggy_write');
  });
});

describe('reason normalisation', () => {
  it.each([
    ['Oops: 0002 [#1] PREEMPT SMP NOPTI', 'Oops: N'],
    ['general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI', 'general protection fault, probably for non-canonical address ?: N'],
    ['BUG: unable to handle page fault for address: ffffa0c8c0200000', 'BUG: unable to handle page fault for address: ?'],
    ['BUG: scheduling while atomic: kworker/0:1/34/0x00000002', 'BUG: scheduling while atomic: ?'],
    ['Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b', 'Kernel panic - not syncing: Attempted to kill init! exitcode=?'],
    ['Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)', 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(N,N)'],
    ['Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled', 'Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled'],
    ['BUG: Bad page state in process ext4lazyinit  pfn:1d2c3 err -12', 'BUG: Bad page state in process ? pfn:? err -12'],
  ])('%s', (line, normalised) => {
    expect(normaliseReason(line)).toBe(normalised);
  });
});
