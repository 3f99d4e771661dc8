//! Compiles the email templates in templates/email/<language>/<message_type>.<part> into the
//! Worker (docs/emails.md). Every file is checked here, so a template with a typo in a value's
//! name or an unknown message type stops the build instead of the deployed Worker.

use std::fmt::Write as _;
use std::path::Path;

#[path = "src/adapters/email_catalog.rs"]
#[allow(dead_code)]
mod email_catalog;

use email_catalog::{is_language_tag, MESSAGE_TYPES, PARTS};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .join("email");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=src/adapters/email_catalog.rs");
    if let Err(message) = generate(&root) {
        eprintln!("email templates: {message}");
        panic!("email templates: {message}");
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn generate(root: &Path) -> Result<(), String> {
    let mut table = String::from("&[\n");
    let mut complete = Vec::new();
    for language_dir in sorted_entries(root)? {
        let language = language_dir.file_name().to_string_lossy().into_owned();
        if !language_dir.path().is_dir() {
            // A README or similar beside the language directories.
            continue;
        }
        if !is_language_tag(&language) {
            return Err(format!(
                "directory \"{language}\" is not a lowercase language tag (e.g. en, de, pt-br)"
            ));
        }
        let mut count = 0;
        for file in sorted_entries(&language_dir.path())? {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let name = format!("{language}/{file_name}");
            let (message_type, part) = file_name
                .rsplit_once('.')
                .filter(|(_, part)| PARTS.contains(part))
                .ok_or_else(|| format!("{name}: not <message_type>.subject, .txt or .html"))?;
            let path = file.path();
            let source =
                std::fs::read_to_string(&path).map_err(|e| format!("{name}: cannot read: {e}"))?;
            email_catalog::check_template(&name, message_type, &source)?;
            let path = path.canonicalize().map_err(|e| format!("{name}: {e}"))?;
            writeln!(
                table,
                "    TemplateFile {{ language: {language:?}, message_type: {message_type:?}, \
                 part: {part:?}, source: include_str!({:?}) }},",
                path.display().to_string()
            )
            .unwrap();
            count += 1;
        }
        if count == MESSAGE_TYPES.len() * PARTS.len() {
            complete.push(language);
        }
    }
    table.push(']');
    if complete.is_empty() {
        return Err(format!(
            "no language has all {} templates ({} message types × subject, txt, html); the default \
             language needs every file",
            MESSAGE_TYPES.len() * PARTS.len(),
            MESSAGE_TYPES.len()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("email_templates.rs");
    let code = format!(
        "/// Every template file under templates/email, sorted by language and file name.\n\
         pub static BUILT_IN_TEMPLATES: &[TemplateFile] = {table};\n\
         /// Languages with every template file (the ones EMAIL_DEFAULT_LANGUAGE may name).\n\
         pub static COMPLETE_LANGUAGES: &[&str] = &{complete:?};\n"
    );
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
