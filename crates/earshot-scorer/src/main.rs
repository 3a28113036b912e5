use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = earshot_scorer::Cli::parse();
    earshot_service::init_tracing(&cli.log);
    let shutdown = earshot_service::shutdown_on_signals();
    earshot_scorer::run(cli, shutdown).await
}
