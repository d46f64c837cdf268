-- The schema every statement of tests/corpus/lint/*.sql runs against, with rows, so that a
-- rewrite, a validation scan, an index build and a row lock are real (tests/lint_truth.py).
-- Four apps in one database, each in the shape its tool writes: Prisma, Rails, Django, and
-- a hand-written billing app.

-- Prisma ------------------------------------------------------------------------------------
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');
CREATE TYPE "PostStatus" AS ENUM ('DRAFT', 'PUBLISHED');

CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "name" VARCHAR(191),
    "role" "Role" NOT NULL DEFAULT 'USER',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

CREATE TABLE "Post" (
    "id" SERIAL NOT NULL,
    "title" VARCHAR(191) NOT NULL,
    "content" TEXT,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "status" "PostStatus" NOT NULL DEFAULT 'DRAFT',
    "viewCount" INTEGER NOT NULL DEFAULT 0,
    "authorId" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

CREATE TABLE "Comment" (
    "id" SERIAL NOT NULL,
    "body" TEXT NOT NULL,
    "postId" INTEGER NOT NULL,
    "authorId" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Comment_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Tag" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    CONSTRAINT "Tag_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "_PostToTag" (
    "A" INTEGER NOT NULL,
    "B" INTEGER NOT NULL
);
CREATE UNIQUE INDEX "_PostToTag_AB_unique" ON "_PostToTag"("A", "B");
CREATE INDEX "_PostToTag_B_index" ON "_PostToTag"("B");

INSERT INTO "User" ("email", "name", "role", "updatedAt")
SELECT 'user' || i || '@example.com', 'User ' || i, CASE WHEN i % 50 = 0 THEN 'ADMIN' ELSE 'USER' END::"Role",
       now() - i * interval '1 hour'
FROM generate_series(1, 2000) AS i;
INSERT INTO "Post" ("title", "content", "published", "viewCount", "authorId")
SELECT 'Post ' || i, repeat('lorem ipsum ', 10), i % 3 = 0, i % 97, 1 + i % 2000
FROM generate_series(1, 3000) AS i;
INSERT INTO "Comment" ("body", "postId", "authorId")
SELECT 'comment ' || i, 1 + i % 3000, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + i % 2000 END
FROM generate_series(1, 3000) AS i;
INSERT INTO "Tag" ("name") SELECT 'tag' || i FROM generate_series(1, 200) AS i;
INSERT INTO "_PostToTag" ("A", "B") SELECT 1 + i % 3000, 1 + i % 200 FROM generate_series(1, 3000) AS i
ON CONFLICT DO NOTHING;

-- Rails ------------------------------------------------------------------------------------
CREATE TABLE "users" (
    "id" bigserial primary key,
    "email" character varying DEFAULT '' NOT NULL,
    "admin" boolean DEFAULT false,
    "created_at" timestamp(6) NOT NULL,
    "updated_at" timestamp(6) NOT NULL
);
CREATE UNIQUE INDEX "index_users_on_email" ON "users" ("email");

CREATE TABLE "products" (
    "id" bigserial primary key,
    "name" character varying,
    "sku" character varying(32),
    "price" numeric(8,2),
    "created_at" timestamp(6) NOT NULL,
    "updated_at" timestamp(6) NOT NULL
);

CREATE TABLE "orders" (
    "id" bigserial primary key,
    "user_id" bigint NOT NULL,
    "status" character varying,
    "total" numeric(10,2),
    "created_at" timestamp(6) NOT NULL,
    "updated_at" timestamp(6) NOT NULL
);
CREATE INDEX "index_orders_on_user_id" ON "orders" ("user_id");
CREATE INDEX "index_orders_on_status" ON "orders" ("status");

CREATE TABLE "line_items" (
    "id" bigserial primary key,
    "order_id" bigint NOT NULL,
    "product_id" bigint NOT NULL,
    "quantity" integer,
    "price" numeric(8,2)
);
CREATE INDEX "index_line_items_on_order_id" ON "line_items" ("order_id");

INSERT INTO "users" ("email", "admin", "created_at", "updated_at")
SELECT 'rails' || i || '@example.com', i % 100 = 0, now(), now() FROM generate_series(1, 2000) AS i;
INSERT INTO "products" ("name", "sku", "price", "created_at", "updated_at")
SELECT 'Product ' || i, 'SKU-' || i, (i % 500) + 0.99, now(), now() FROM generate_series(1, 1000) AS i;
INSERT INTO "orders" ("user_id", "status", "total", "created_at", "updated_at")
SELECT 1 + i % 2000, (ARRAY['pending', 'paid', 'shipped'])[1 + i % 3], (i % 300) + 0.5,
       now() - i * interval '1 day' / 10, now()
FROM generate_series(1, 3000) AS i;
INSERT INTO "line_items" ("order_id", "product_id", "quantity", "price")
SELECT 1 + i % 3000, 1 + i % 1000, 1 + i % 5, (i % 500) + 0.99 FROM generate_series(1, 3000) AS i;

-- Django -----------------------------------------------------------------------------------
CREATE TABLE "auth_user" (
    "id" integer NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    "username" varchar(150) NOT NULL UNIQUE,
    "email" varchar(254) NOT NULL,
    "is_active" boolean NOT NULL,
    "date_joined" timestamp with time zone NOT NULL
);
CREATE TABLE "shop_category" (
    "id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    "name" varchar(100) NOT NULL
);
CREATE TABLE "shop_product" (
    "id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    "name" varchar(200) NOT NULL,
    "price" numeric(10, 2) NOT NULL,
    "stock" integer NOT NULL,
    "category_id" bigint NULL
);
CREATE TABLE "shop_order" (
    "id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    "created" timestamp with time zone NOT NULL,
    "status" varchar(20) NOT NULL,
    "customer_id" integer NOT NULL
);
ALTER TABLE "shop_order" ADD CONSTRAINT "shop_order_customer_id_5a6d3e4f_fk_auth_user_id"
    FOREIGN KEY ("customer_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "shop_order_customer_id_5a6d3e4f" ON "shop_order" ("customer_id");

INSERT INTO "auth_user" ("username", "email", "is_active", "date_joined")
SELECT 'user' || i, 'django' || i || '@example.com', i % 20 <> 0, now() FROM generate_series(1, 2000) AS i;
INSERT INTO "shop_category" ("name") SELECT 'Category ' || i FROM generate_series(1, 50) AS i;
INSERT INTO "shop_product" ("name", "price", "stock", "category_id")
SELECT 'Item ' || i, (i % 200) + 0.25, i % 40, CASE WHEN i % 7 = 0 THEN NULL ELSE 1 + i % 50 END
FROM generate_series(1, 2000) AS i;
INSERT INTO "shop_order" ("created", "status", "customer_id")
SELECT now() - i * interval '1 hour', (ARRAY['new', 'paid', 'sent'])[1 + i % 3], 1 + i % 2000
FROM generate_series(1, 3000) AS i;

-- Hand-written billing app -----------------------------------------------------------------
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    email varchar(100),
    plan text,
    status text NOT NULL DEFAULT 'active',
    balance_cents integer NOT NULL DEFAULT 0,
    legacy_code varchar(20),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX accounts_email_idx ON accounts (email);

CREATE TABLE invoices (
    id integer PRIMARY KEY,
    account_id bigint NOT NULL,
    number varchar(32),
    amount numeric(10, 2) NOT NULL,
    currency char(3) NOT NULL DEFAULT 'EUR',
    issued_on date NOT NULL,
    paid boolean NOT NULL DEFAULT false,
    note varchar(50)
);
CREATE INDEX invoices_account_id_idx ON invoices (account_id);
CREATE INDEX invoices_issued_on_idx ON invoices (issued_on);

CREATE TABLE events (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    kind text NOT NULL,
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_account_id_idx ON events (account_id);

CREATE TABLE plans (
    code text PRIMARY KEY,
    name text NOT NULL,
    price_cents integer NOT NULL
);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    row_id bigint,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE invoice_number_seq START 1000;

CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (table_name, row_id) VALUES (TG_TABLE_NAME, NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER accounts_audit AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();

CREATE VIEW active_accounts AS SELECT id, name, plan FROM accounts WHERE deleted_at IS NULL;

INSERT INTO plans (code, name, price_cents) VALUES ('free', 'Free', 0), ('pro', 'Pro', 1900), ('team', 'Team', 4900);
INSERT INTO accounts (name, email, plan, status, balance_cents, legacy_code, deleted_at)
SELECT 'Account ' || i, 'acct' || i || '@example.com', (ARRAY['free', 'pro', 'team'])[1 + i % 3],
       CASE WHEN i % 10 = 0 THEN 'closed' ELSE 'active' END, i % 1000,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'L' || i END, CASE WHEN i % 10 = 0 THEN now() END
FROM generate_series(1, 2000) AS i;
INSERT INTO invoices (id, account_id, number, amount, currency, issued_on, paid)
SELECT i, 1 + i % 2000, 'INV-' || i, (i % 900) + 0.5, 'EUR', date '2024-01-01' + i % 700, i % 5 <> 0
FROM generate_series(1, 3000) AS i;
INSERT INTO events (account_id, kind, payload, created_at)
SELECT 1 + i % 2000, (ARRAY['login', 'charge', 'refund'])[1 + i % 3], jsonb_build_object('n', i),
       now() - (i % 400) * interval '1 day'
FROM generate_series(1, 4000) AS i;
INSERT INTO audit_log (table_name, row_id, changed_at)
SELECT 'accounts', 1 + i % 2000, now() - i * interval '1 minute' FROM generate_series(1, 1000) AS i;

DO $$
BEGIN
    CREATE ROLE gonogo_lint_readonly;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

ANALYZE;
