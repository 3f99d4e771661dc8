//! Compiles the email templates in templates/email/<language>/<message_type>.<part> into the
//! Worker (docs/emails.md). Every file is checked here (`email_catalog::scan_templates`), so a
//! template with a typo in a value's name or an unknown message type stops the build instead of
//! the deployed Worker.

use std::fmt::Write as _;
use std::path::Path;

#[path = "src/adapters/email_catalog.rs"]
#[allow(dead_code)]
mod email_catalog;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .join("email");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed=src/adapters/email_catalog.rs");
    let scan = email_catalog::scan_templates(&root).unwrap_or_else(|message| {
        eprintln!("email templates: {message}");
        std::process::exit(1);
    });
    let mut table = String::from("&[\n");
    for file in &scan.files {
        let path = file.path.canonicalize().expect("a file just read");
        writeln!(
            table,
            "    TemplateFile {{ language: {:?}, message_type: {:?}, part: {:?}, \
             source: include_str!({:?}) }},",
            file.language,
            file.message_type,
            file.part,
            path.display().to_string()
        )
        .unwrap();
    }
    table.push(']');
    let code = format!(
        "/// Every template file under templates/email, sorted by language and file name.\n\
         pub static BUILT_IN_TEMPLATES: &[TemplateFile] = {table};\n\
         /// Languages with every template file (the ones EMAIL_DEFAULT_LANGUAGE may name).\n\
         pub static COMPLETE_LANGUAGES: &[&str] = &{:?};\n",
        scan.complete_languages
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("email_templates.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
