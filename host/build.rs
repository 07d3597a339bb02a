//! Rebuilds kri-host when the web console's built assets change: `include_dir!`
//! embeds console/dist, but stable Rust does not track the files it reads.

fn main() {
    println!("cargo:rerun-if-changed=../console/dist");
}
