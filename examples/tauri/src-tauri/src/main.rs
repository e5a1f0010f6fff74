// The app: a webview and the shell plugin, which spawns the pysandbox
// sidecar for it within what capabilities/default.json allows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    tauri::Builder::default()
        .plugin(tauri_plugin_shell::init())
        .run(tauri::generate_context!())
        .expect("error while running the app");
}
