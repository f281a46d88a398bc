//! The nickname in localStorage, so it survives reloads.

const KEY: &str = "noom.nickname";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load_nickname() -> Option<String> {
    local_storage()?.get_item(KEY).ok()?
}

pub fn save_nickname(nickname: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(KEY, nickname);
    }
}
