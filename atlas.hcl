# Atlas project file for the official Atlas CLI. The migration directories
# are generated from the Ent schema by `todo migrate diff NAME`; an operator
# with the CLI can apply them with `atlas migrate apply --env <name>`, and
# `todo migrate apply` writes the same revisions table, so the two mix.
#
# src "ent://ent/schema" needs the official CLI: community builds refuse the
# ent:// scheme. With a community build, dump the schema to a file and diff
# against that instead (README, "Operating").

variable "database_url" {
  type    = string
  default = getenv("DATABASE_URL")
}

variable "neon_url" {
  type    = string
  default = getenv("NEON_DATABASE_URL")
}

# The embedded default: the SQLite file `todo serve` uses with no configuration.
env "local" {
  src = "ent://ent/schema"
  url = "sqlite://data/todo.db?_fk=1"
  dev = "sqlite://dev?mode=memory&_fk=1"
  migration {
    dir = "file://migrations/sqlite"
  }
}

# Local PostgreSQL. Set DATABASE_URL to point elsewhere.
env "dev" {
  src = "ent://ent/schema"
  url = var.database_url != "" ? var.database_url : "postgres://postgres@127.0.0.1:5432/todo?sslmode=disable"
  dev = "postgres://postgres@127.0.0.1:5432/atlas_dev?sslmode=disable"
  migration {
    dir = "file://migrations/postgres"
  }
}

# Neon. NEON_DATABASE_URL must name the DIRECT endpoint (not the -pooler
# one: PgBouncer in transaction mode cannot hold the advisory lock that
# serialises migrations) with sslmode=require, for example
# postgresql://owner:secret@ep-name-123456.eu-central-1.aws.neon.tech/todo?sslmode=require
env "neon" {
  src = "ent://ent/schema"
  url = var.neon_url
  migration {
    dir = "file://migrations/postgres"
  }
}
