// A Better Auth server for cmd/todo's TestBetterAuth: email and password
// sign-in and the jwt plugin, on the PostgreSQL database DATABASE_URL (its
// tables are created at start), on 127.0.0.1 at PORT (0: any free port).
// It prints one JSON line {"listening": BASE_URL} once it serves.
//
// JWKS_ROTATION_SECONDS, when set, makes the signing key expire after that
// many seconds: the next token is signed by a new key with a new kid, and
// the old key stays in the key set for JWKS_GRACE_SECONDS.
import http from "node:http";
import pg from "pg";
import { betterAuth } from "better-auth";
import { jwt } from "better-auth/plugins";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";

const env = process.env;
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(env.PORT || 0), "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const rotation = Number(env.JWKS_ROTATION_SECONDS || 0);
const auth = betterAuth({
  baseURL,
  secret: env.BETTER_AUTH_SECRET,
  database: new pg.Pool({ connectionString: env.DATABASE_URL, max: 4 }),
  emailAndPassword: { enabled: true, autoSignIn: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: [
    jwt({
      jwks: rotation > 0 ? { rotationInterval: rotation, gracePeriod: Number(env.JWKS_GRACE_SECONDS || 3600) } : undefined,
    }),
  ],
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

server.on("request", toNodeHandler(auth));
process.stdout.write(JSON.stringify({ listening: baseURL }) + "\n");
