//! Which language a page is in, and how the choice is remembered.
//!
//! The server renders each page in one language (so the first paint is already right, and
//! hydration reads it back from `<html lang>`): the one the person picked with the top-bar
//! switch, remembered in a cookie, else the best match of the browser's `Accept-Language`.
//!
//! leptos_i18n can keep that cookie itself (its `cookie` feature), but that brings
//! leptos-use's cookie signal, the `cookie` crate and `time`'s date parsing into the WASM,
//! about a fifth of what i18n cost the first load, to write one cookie. So the browser
//! writes it here ([`remember`]) and the server reads it here ([`preferred_languages`]),
//! under the same name the library used, so a choice made before stays.
//!
//! One function per target difference (the components carry no `cfg`).

use leptos_i18n::context::UseLocalesOptions;

use crate::i18n::Locale;

/// The cookie holding the person's choice (`en` or `ko`).
pub const COOKIE: &str = "i18n_pref_locale";

/// What the server treats as the browser's accepted languages, best first: the remembered
/// choice, then the `Accept-Language` header.
#[cfg(feature = "ssr")]
pub fn preferred_languages() -> UseLocalesOptions {
    UseLocalesOptions::default().ssr_lang_header_getter(|| {
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>()?;
        let chosen = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == COOKIE)
            .map(|c| c.value().to_string());
        let accepted = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        match (chosen, accepted) {
            (Some(chosen), Some(accepted)) => Some(format!("{chosen},{accepted}")),
            (chosen, accepted) => chosen.or(accepted),
        }
    })
}

/// In the browser the library reads the language back from `<html lang>`.
#[cfg(not(feature = "ssr"))]
pub fn preferred_languages() -> UseLocalesOptions {
    UseLocalesOptions::default()
}

/// Remember the person's choice for the next pages (a year, this site only).
#[cfg(feature = "hydrate")]
pub fn remember(locale: Locale) {
    use leptos_i18n::Locale as _;
    use wasm_bindgen::JsCast;
    if let Ok(document) = leptos::prelude::document().dyn_into::<web_sys::HtmlDocument>() {
        let _ = document.set_cookie(&format!("{COOKIE}={}; path=/; max-age=31536000; samesite=lax", locale.as_str()));
    }
}

#[cfg(not(feature = "hydrate"))]
pub fn remember(_locale: Locale) {}
