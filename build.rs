//! Link flags for the binaries.
//!
//! `-z pack-relative-relocs` (DT_RELR): a position-independent executable carries one
//! relocation per pointer in its read-only data (vtables, the addresses of static strings),
//! which the dynamic loader reads at start and which then stay resident, as file pages, for
//! the life of the process. As 24-byte RELA entries pgmeta-capture's were 0.69 MB, 0.67 MB of
//! them resident in an idle capture; packed as bitmaps they are 10 KB. LLD (rustc's default
//! linker on x86_64 Linux since Rust 1.90) and GNU ld 2.38+ pack them; the binary then
//! requires glibc 2.36+ (it names the `GLIBC_ABI_DT_RELR` version). Only the binaries are
//! linked with it: the library and the dependencies compile as before.
//!
//! The flag is passed only when building for the machine's own glibc and that glibc is 2.36+
//! (as `getconf GNU_LIBC_VERSION` reports it): an older loader does not apply packed
//! relocations, and a binary built against an older glibc runs there anyway. A binary built
//! on a glibc 2.36+ machine needs that glibc's symbol versions already; a cross build, or a
//! machine whose glibc cannot be asked, links as before.

use std::process::Command;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    if os == "linux" && env == "gnu" && native && host_glibc().is_some_and(|v| v >= (2, 36)) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo::rerun-if-changed=build.rs");
}

/// The running glibc's (major, minor): `getconf GNU_LIBC_VERSION` prints `glibc 2.36`.
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
