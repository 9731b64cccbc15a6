fn main() -> anyhow::Result<()> {
    api::cli::main()
}
