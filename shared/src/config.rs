//! Configuration chain: defaults → TOML file → `KENPO_*` environment (`__` separates nesting,
//! e.g. `KENPO_DATABASE__URL`) → `DATABASE_URL` as an alias of `database.url`.
//! Command-line flags are applied by each app on the value this returns.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Serialize, de::DeserializeOwned};

pub fn load<T: Serialize + DeserializeOwned>(defaults: T, file: Option<&std::path::Path>) -> Result<T, String> {
    let mut fig = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(format!("config file {} does not exist", path.display()));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig = fig
        .merge(Env::prefixed("KENPO_").split("__").ignore(&["config"]))
        .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()));
    fig.extract().map_err(|e| e.to_string())
}
