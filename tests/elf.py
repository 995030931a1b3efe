"""The section names of an ELF file (a Linux shared library), read with the standard library
alone, so that the tests need neither binutils nor an ELF package."""

from __future__ import annotations

import struct

# After the 16 bytes of e_ident: e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
# e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx; and each section
# header's sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, and four more.
HEADER = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
SECTION = {32: "IIIIIIIIII", 64: "IIQQQQIIQQ"}


def section_names(data: bytes) -> list[str]:
    """The names of an ELF file's sections, in the order of its section header table.

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    list of str
        One name per section, the empty name of section 0 included.

    Raises
    ------
    ValueError
        If `data` is not an ELF file.
    """
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("not an ELF file")
    bits = 32 if data[4] == 1 else 64
    order = "<" if data[5] == 1 else ">"
    header = struct.unpack_from(order + HEADER[bits], data, 16)
    shoff, shentsize, shnum, shstrndx = header[5], *header[10:13]
    sections = [
        struct.unpack_from(order + SECTION[bits], data, shoff + i * shentsize)
        for i in range(shnum)
    ]
    names_offset, names_size = sections[shstrndx][4:6]
    names = data[names_offset : names_offset + names_size]
    return [names[s[0] : names.index(b"\0", s[0])].decode() for s in sections]
