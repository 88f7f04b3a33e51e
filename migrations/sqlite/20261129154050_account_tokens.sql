-- Create "account_tokens" table
CREATE TABLE `account_tokens` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `purpose` text NOT NULL, `hash` text NOT NULL, `email` text NOT NULL, `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `used_at` datetime NULL, `user_id` text NOT NULL, CONSTRAINT `account_tokens_users_account_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "account_tokens_hash_key" to table: "account_tokens"
CREATE UNIQUE INDEX `account_tokens_hash_key` ON `account_tokens` (`hash`);
-- Create index "accounttoken_user_id_purpose" to table: "account_tokens"
CREATE INDEX `accounttoken_user_id_purpose` ON `account_tokens` (`user_id`, `purpose`);
-- Create index "accounttoken_expires_at" to table: "account_tokens"
CREATE INDEX `accounttoken_expires_at` ON `account_tokens` (`expires_at`);
