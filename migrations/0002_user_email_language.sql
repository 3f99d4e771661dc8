-- Optional: each user's email language (docs/emails.md), a language directory name under
-- templates/email such as 'de'. NULL (the default) lets the request or EMAIL_DEFAULT_LANGUAGE decide.
-- The Worker reads the column when it exists and works unchanged without it.
ALTER TABLE users ADD COLUMN email_language TEXT;
