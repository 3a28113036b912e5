use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = earshot_replay::Cli::parse();
    earshot_service::init_tracing(&cli.log);
    let shutdown = earshot_service::shutdown_on_signals();
    let summary = earshot_replay::run(cli, shutdown).await?;
    eprintln!("{summary}");
    Ok(())
}
