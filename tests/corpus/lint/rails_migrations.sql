-- SQL Rails' migrations run (rails db:migrate, as `rails db:migrate:status` shows it with
-- ActiveRecord::Base.logger on), on the Rails app's tables.

ALTER TABLE "users" ADD "confirmed_at" timestamp(6);

ALTER TABLE "users" ADD "sign_in_count" integer DEFAULT 0 NOT NULL;

ALTER TABLE "orders" ADD "shipped_at" timestamp(6);

ALTER TABLE "orders" ADD "lock_version" integer DEFAULT 0 NOT NULL;

ALTER TABLE "products" ADD "uuid" uuid DEFAULT gen_random_uuid() NOT NULL;

ALTER TABLE "products" ADD "discarded_at" timestamp(6);

CREATE INDEX "index_products_on_sku" ON "products" ("sku");

CREATE INDEX CONCURRENTLY "index_products_on_name" ON "products" ("name");

CREATE UNIQUE INDEX "index_products_on_sku_unique" ON "products" ("sku");

CREATE INDEX "index_line_items_on_product_id" ON "line_items" ("product_id");

ALTER TABLE "line_items" ADD CONSTRAINT "fk_rails_11e15d5c6b"
FOREIGN KEY ("order_id")
  REFERENCES "orders" ("id");

ALTER TABLE "line_items" ADD CONSTRAINT "fk_rails_2b3c4a7d1e"
FOREIGN KEY ("product_id")
  REFERENCES "products" ("id")
 NOT VALID;

ALTER TABLE "orders" ADD CONSTRAINT "fk_rails_f868b47f6a"
FOREIGN KEY ("user_id")
  REFERENCES "users" ("id")
 NOT VALID;

-- truth: after previous
ALTER TABLE "orders" VALIDATE CONSTRAINT "fk_rails_f868b47f6a";

ALTER TABLE "orders" ALTER COLUMN "status" SET DEFAULT 'pending';

ALTER TABLE "orders" ALTER COLUMN "status" SET NOT NULL;

ALTER TABLE "orders" ALTER COLUMN "total" TYPE numeric(12,2);

ALTER TABLE "orders" ALTER COLUMN "total" TYPE numeric(10,4);

ALTER TABLE "line_items" ALTER COLUMN "quantity" TYPE bigint;

ALTER TABLE "users" ALTER COLUMN "email" TYPE character varying(320);

-- truth: breaks-app
ALTER TABLE "orders" RENAME COLUMN "total" TO "total_amount";

-- truth: breaks-app
ALTER TABLE "line_items" RENAME TO "order_items";

ALTER INDEX "index_orders_on_status" RENAME TO "index_orders_on_state";

DROP INDEX "index_orders_on_status";

DROP INDEX CONCURRENTLY "index_line_items_on_order_id";

-- truth: breaks-app
ALTER TABLE "products" DROP COLUMN "sku";

ALTER TABLE "users" ADD CONSTRAINT "chk_users_email_present" CHECK (email <> '');

UPDATE "users" SET "admin" = FALSE WHERE "users"."admin" IS NULL;

UPDATE "orders" SET "status" = 'pending' WHERE "orders"."status" IS NULL;

-- Rails' change_column_null with a default: UPDATE, then SET NOT NULL
ALTER TABLE "products" ADD "active" boolean;

-- truth: after previous
UPDATE "products" SET "active" = TRUE WHERE "active" IS NULL;

-- truth: after previous
ALTER TABLE "products" ALTER COLUMN "active" SET NOT NULL;

CREATE TABLE "shipments" ("id" bigserial primary key, "order_id" bigint NOT NULL, "carrier" character varying, "created_at" timestamp(6) NOT NULL, "updated_at" timestamp(6) NOT NULL, CONSTRAINT "fk_rails_3c1a4f9e2b"
FOREIGN KEY ("order_id")
  REFERENCES "orders" ("id")
);

-- truth: after previous
CREATE INDEX "index_shipments_on_order_id" ON "shipments" ("order_id");
