//! Configuration chain: defaults → TOML file → environment with the app's prefix (`KENPO_*` for
//! the IdP, `KENPO_PORTAL_*` for the portal) (`__` separates nesting,
//! e.g. `KENPO_DATABASE__URL`) → `DATABASE_URL` as an alias of `database.url`.
//! Command-line flags are applied by each app on the value this returns.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Serialize, de::DeserializeOwned};

/// `known` lists the top-level configuration keys; `KENPO_*` variables for anything else (a
/// test harness's own variables, another app's settings) are ignored rather than refused, so
/// one environment can serve the IdP, the portal and the tools.
pub fn load<T: Serialize + DeserializeOwned>(
    defaults: T,
    file: Option<&std::path::Path>,
    prefix: &str,
    known: &'static [&'static str],
) -> Result<T, String> {
    let mut fig = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(format!("config file {} does not exist", path.display()));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig = fig
        .merge(
            Env::prefixed(prefix)
                .filter(move |k| {
                    let top = k.as_str().split("__").next().unwrap_or_default().to_ascii_lowercase();
                    known.contains(&top.as_str())
                })
                .split("__"),
        )
        .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()));
    fig.extract().map_err(|e| e.to_string())
}

/// The development public URL for a listen address: a loopback IP is reached as `localhost`,
/// because passkeys need a host name as RP ID, and the IdP and the portal must agree on it
/// (the demo client registers `http://localhost:8081/callback`).
pub fn dev_public_url(listen: &str) -> String {
    match listen.strip_prefix("127.0.0.1:") {
        Some(port) => format!("http://localhost:{port}"),
        None => format!("http://{listen}"),
    }
}

#[cfg(test)]
mod dev_url_tests {
    #[test]
    fn loopback_becomes_localhost() {
        assert_eq!(super::dev_public_url("127.0.0.1:8080"), "http://localhost:8080");
        assert_eq!(super::dev_public_url("0.0.0.0:8080"), "http://0.0.0.0:8080");
        assert_eq!(super::dev_public_url("idp.test:80"), "http://idp.test:80");
    }
}
