-- The seed's sample rows, verbatim from phase2-database-schema.md ("Sample Data").

INSERT INTO users (id, email, name, hashed_password, created_at)
VALUES
  ('user-123-abc', 'john@example.com', 'John Doe', '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/X4SIYoqLJ2NXC.Ky2', NOW()),
  ('user-456-def', 'jane@example.com', 'Jane Smith', '$2b$12$EqKcp1WFKs7ILHDI8t4qfe7fM0j8w1uV5tGVKqVXLqXLqXLqXLqXL', NOW());

INSERT INTO tasks (user_id, title, description, completed, created_at)
VALUES
  ('user-123-abc', 'Buy groceries', 'Milk, eggs, bread', false, NOW()),
  ('user-123-abc', 'Finish report', 'Q4 sales report', false, NOW()),
  ('user-456-def', 'Call mom', 'Birthday wishes', true, NOW());
