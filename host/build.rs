//! Rebuilds kri-host when the web console's files change: `include_dir!` embeds
//! console/src and console/vendor, but stable Rust does not track the files it reads.

fn main() {
    println!("cargo:rerun-if-changed=../console/src");
    println!("cargo:rerun-if-changed=../console/vendor");
}
