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

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
