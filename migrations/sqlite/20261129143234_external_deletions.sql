-- Create "external_deletions" table
CREATE TABLE `external_deletions` (`id` text NOT NULL, `deleted_at` datetime NOT NULL, PRIMARY KEY (`id`));
