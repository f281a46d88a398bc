//! Compiles the translations in `locales/` (one JSON file per language) into the `i18n`
//! module (leptos_i18n): every key used in the code is checked at build time. A key missing
//! from one language is only a build warning here; `cargo test` fails on it
//! (`every_text_is_in_both_languages_with_the_same_values`, src/strings.rs).

use std::error::Error;
use std::path::PathBuf;

use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?).join("i18n");
    // `interpolate_display`: texts with values ("{{ nick }} joined") can be made as plain
    // strings too, for attributes (accessible names) and the chat log's notices.
    let options = ParseOptions::new().interpolate_display(true);
    let config = Config::new("en")?.add_locale("ko")?.parse_options(options);
    let translations = TranslationsInfos::parse(config)?;
    translations.emit_diagnostics();
    translations.rerun_if_locales_changed();
    translations.generate_i18n_module(out)?;
    Ok(())
}
