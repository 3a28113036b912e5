use clap::Parser;

/// Exit status of a replay stopped by SIGTERM/SIGINT (resumable with --checkpoint).
const EXIT_INTERRUPTED: i32 = 130;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = earshot_replay::Cli::parse();
    earshot_service::init_tracing(&cli.log);
    let shutdown = earshot_service::shutdown_on_signals();
    let summary = earshot_replay::run(cli, shutdown).await?;
    eprintln!("{summary}");
    if summary.interrupted {
        std::process::exit(EXIT_INTERRUPTED);
    }
    Ok(())
}
