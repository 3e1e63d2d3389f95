//! Rebuilds the collector when a file is added to or removed from `www/` or `dist/widget/`:
//! rust-embed compiles in the files that existed at build time (src/assets.rs), and by itself
//! cargo notices only edits to those. A missing `dist/widget/` (the widget not built yet) makes
//! cargo re-run this on every build, so the collector picks the widget up once it is built.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../www");
    println!("cargo:rerun-if-changed=../../dist/widget");
    if !std::path::Path::new("../../dist/widget/vantage_widget_bg.wasm").is_file() {
        println!("cargo:warning=dist/widget/ is not built: this vantage binary will answer 404 under /v1/w/ and serve the readable www/loader.js; run ./build.sh build");
    }
}
