//! The product's binary built inside the tests package, so multi-process tests can start real `work` and `serve`
//! processes through `env!("CARGO_BIN_EXE_app")`.

fn main() -> anyhow::Result<()> {
    api::cli::main()
}
