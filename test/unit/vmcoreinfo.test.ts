import { describe, it, expect } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';
import { isValidPageSize, parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { defaultVmcoreinfo } from '../helpers/elf-core-builder.js';

function corruptError(text: string): NetdumpError {
  try {
    parseVmcoreinfo(text);
  } catch (error) {
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }
  throw new Error(`parseVmcoreinfo accepted ${JSON.stringify(text)}`);
}

describe('parseVmcoreinfo', () => {
  it('reads the typed fields of a kernel-shaped text', () => {
    const text = defaultVmcoreinfo({
      pageSize: 4096, osRelease: '6.1.0-56-amd64', crashTime: 1_732_000_123, physBase: -677380096, kernelOffset: 0x16e00000n,
    });
    const info = parseVmcoreinfo(Buffer.from(text, 'latin1'));
    expect(info.raw).toBe(text);
    expect(info.osRelease).toBe('6.1.0-56-amd64');
    expect(info.buildId).toBe('0123456789abcdef0123456789abcdef01234567');
    expect(info.pageSize).toBe(4096);
    expect(info.crashTime).toBe(1_732_000_123);
    expect(info.kernelOffset).toBe(0x16e00000n);
    expect(info.numbers.get('phys_base')).toBe(-677380096n);
    expect(info.numbers.get('PG_buddy')).toBe(-128n);
    expect(info.numbers.get('SECTION_SIZE_BITS')).toBe(27n);
    expect(info.sizes.get('page')).toBe(64);
    expect(info.offsets.get('page._refcount')).toBe(52);
    expect(info.offsets.get('uts_namespace.name')).toBe(0);
    expect(info.lengths.get('mem_section')).toBe(2048);
  });

  it('reads SYMBOL values as hex without 0x, keeping all 64 bits', () => {
    const info = parseVmcoreinfo('SYMBOL(init_uts_ns)=ffffffff82a13620\nSYMBOL(small)=10\nSYMBOL(caps)=FFFFFFFF81000000\n');
    expect(info.symbols.get('init_uts_ns')).toBe(0xffffffff82a13620n);
    expect(info.symbols.get('small')).toBe(0x10n); // hex, not decimal ten
    expect(info.symbols.get('caps')).toBe(0xffffffff81000000n);
  });

  it('reads a negative NUMBER as a negative bigint', () => {
    const info = parseVmcoreinfo('NUMBER(phys_base)=-677380096\n');
    expect(info.numbers.get('phys_base')).toBe(-677380096n);
    expect(BigInt.asUintN(64, info.numbers.get('phys_base')!)).toBe(0xffff_ffff_d7a0_0000n);
  });

  it('reads PAGESIZE and CRASHTIME as numbers', () => {
    const info = parseVmcoreinfo('PAGESIZE=65536\nCRASHTIME=1700000000\n');
    expect(info.pageSize).toBe(65536);
    expect(info.crashTime).toBe(1_700_000_000);
  });

  it('strips the note padding NULs but keeps them in raw', () => {
    const text = 'PAGESIZE=4096\nCRASHTIME=5\n\0\0\0';
    const info = parseVmcoreinfo(Buffer.from(text, 'latin1'));
    expect(info.raw).toBe(text);
    expect(info.crashTime).toBe(5);
  });

  it('keeps unknown keys as text and ignores lines without KEY=', () => {
    const info = parseVmcoreinfo('FOO=bar=baz\nnot a pair\n=nokey\nPAGESIZE=4096\n');
    expect(info.other.get('FOO')).toBe('bar=baz');
    expect(info.other.size).toBe(1);
    expect(info.pageSize).toBe(4096);
  });

  it.each([
    ['PAGESIZE=abc', 1],
    ['OSRELEASE=x\nPAGESIZE=', 2],
    ['PAGESIZE=4096\nCRASHTIME=12:00', 2],
    ['SYMBOL(init_uts_ns)=zzzz', 1],
    ['SYMBOL(init_uts_ns)=-ffff', 1],
    ['NUMBER(phys_base)=12a', 1],
    ['NUMBER(phys_base)=--5', 1],
    ['SIZE(page)=sixty-four', 1],
    ['OFFSET(page.flags)=0x', 1],
    ['LENGTH(mem_section)=1e3', 1],
    ['KERNELOFFSET=not-hex', 1],
    ['\n\nPAGESIZE=99999999999999999999', 3],
  ])('garbage %j -> CORRUPT naming line %i', (text, line) => {
    const err = corruptError(text);
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toContain(`line ${line}`);
    expect(err.context.line).toBe(line);
  });
});

describe('isValidPageSize', () => {
  it.each([4096, 8192, 16384, 65536])('accepts %i', (size) => expect(isValidPageSize(size)).toBe(true));
  it.each([0, 512, 2048, 4095, 12288, 131072, 4096.5, -4096])('rejects %d', (size) => expect(isValidPageSize(size)).toBe(false));
});
