// Bench binaries link libtorch through earshot-scorer; they need the same rpath.
include!("../crates/earshot-scorer/build.rs");
