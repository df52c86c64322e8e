//! `lrctl serve`: the live dashboard (all of it in `lrctl-serve`; here only flags and output).

use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;
use lrctl_serve::{Exposure, ServeOptions};

use crate::study_cmds::StoreArgs;

/// `lrctl serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on. Loopback by default; any other address needs --token.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR:PORT")]
    bind: SocketAddr,
    /// Token a browser must present (16 or more characters; open the printed URL, which
    /// carries it once); also `LRCTL_SERVE_TOKEN`.
    #[arg(
        long,
        env = "LRCTL_SERVE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let options = ServeOptions {
        store: args.store.store,
        bind: args.bind,
        token: args.token,
    };
    let token = options.token.clone();
    lrctl_serve::serve(&options, |bound| {
        eprintln!(
            "lrctl serve: {} (read-only) at {}",
            bound.store,
            bound.url(None)
        );
        if bound.exposure == Exposure::Token {
            eprintln!(
                "lrctl serve: listening beyond this machine; only clients with the token get \
                 in: open {}",
                bound.url(token.as_deref())
            );
        }
        eprintln!("lrctl serve: Ctrl-C stops it");
    })?;
    Ok(())
}
