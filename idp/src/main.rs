use clap::Parser;

fn main() {
    let cli = kenpo_idp::cli::Cli::parse();
    std::process::exit(kenpo_idp::cli::run(cli));
}
