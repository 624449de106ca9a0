use clap::Parser;

fn main() {
    let cli = kenpo_portal::cli::Cli::parse();
    std::process::exit(kenpo_portal::cli::run(cli));
}
