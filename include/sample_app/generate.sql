-- Deterministic data for the recipe app, generated server-side.
--
-- Input: the session setting sample_app.scale (set once by sample_app.generate).
-- Everything scales with the number of companies N = max(1, round(50 * scale)).
-- Ids are explicit and laid out arithmetically per company, so the data is byte-identical
-- for a given scale: no random(), no now(); pseudo-randomness comes from hashint4(id # salt),
-- a different salt per table so that tables do not mirror each other.
-- Layout per company c (1-based): users (c-1)*10+1..c*10, categories (c-1)*10+1..,
-- ingredients and recipes (c-1)*100+1..c*100, 3 sections and 20 items per recipe.
-- Timestamps fall in 2023-2024, before the fixed reference date 2025-01-01.

SELECT set_config('sample_app.companies',
                  greatest(1, round(50 * current_setting('sample_app.scale')::numeric))::int::text,
                  false);

INSERT INTO "User" ("id", "email", "name", "createdAt", "updatedAt")
SELECT u,
       'user' || u || '@example.com',
       w.first[1 + x.h % cardinality(w.first)] || ' ' || w.last[1 + (x.h / 100) % cardinality(w.last)],
       timestamp '2023-01-01' + (x.h % 365) * interval '1 day' + u * interval '1 minute',
       timestamp '2024-01-01' + (x.h % 365) * interval '1 day' + u * interval '1 minute'
FROM generate_series(1, 10 * current_setting('sample_app.companies')::int) AS u
CROSS JOIN LATERAL (SELECT hashint4(u # 11) & 2147483647 AS h) AS x
CROSS JOIN (SELECT ARRAY['Ada', 'Ben', 'Chloe', 'Dan', 'Elena', 'Farid', 'Grace', 'Hugo', 'Ines',
                         'Jonas', 'Kara', 'Luis', 'Maya', 'Noah', 'Olga', 'Pierre'] AS first,
                   ARRAY['Baker', 'Silva', 'Novak', 'Moreau', 'Okafor', 'Rossi', 'Schmidt',
                         'Tanaka', 'Walsh', 'Yilmaz', 'Kowalski', 'Dubois'] AS last) AS w;

INSERT INTO "Company" ("id", "name", "ownerId", "createdAt")
SELECT c,
       w.place[1 + (c - 1) % cardinality(w.place)] || ' ' || w.kind[1 + (c - 1) / cardinality(w.place) % cardinality(w.kind)] || ' ' || c,
       (c - 1) * 10 + 1,
       timestamp '2023-01-01' + c * interval '1 day'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN (SELECT ARRAY['Riverside', 'Old Town', 'Harbour', 'Hillside', 'Market Street',
                         'North End', 'Station', 'Green Lane', 'Mill', 'Castle'] AS place,
                   ARRAY['Bakery', 'Kitchen', 'Patisserie', 'Deli', 'Bistro'] AS kind) AS w;

-- 10 members per company (its own users) plus 2 users of the next company.
INSERT INTO "Membership" ("id", "userId", "companyId", "role", "createdAt")
SELECT (c - 1) * 12 + k,
       CASE WHEN k <= 10 THEN (c - 1) * 10 + k ELSE (c % n) * 10 + (k - 10) END,
       c,
       CASE WHEN k = 1 THEN 'owner' WHEN k <= 3 THEN 'admin' ELSE 'member' END,
       timestamp '2023-01-01' + c * interval '1 day' + k * interval '1 hour'
FROM (SELECT current_setting('sample_app.companies')::int AS n) AS p
CROSS JOIN generate_series(1, p.n) AS c
CROSS JOIN generate_series(1, 12) AS k
WHERE k <= 10 OR p.n > 1;

INSERT INTO "Category" ("id", "companyId", "name", "createdAt")
SELECT (c - 1) * 10 + k, c, w.cat[k], timestamp '2023-01-01' + c * interval '1 day' + k * interval '1 minute'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 10) AS k
CROSS JOIN (SELECT ARRAY['Breads', 'Cakes', 'Pastries', 'Soups', 'Salads', 'Mains', 'Desserts',
                         'Sauces', 'Drinks', 'Sides'] AS cat) AS w;

-- 50 base ingredients, the second 50 of each company are the organic variants.
INSERT INTO "Ingredient" ("id", "companyId", "name", "unit", "packSize", "packPrice", "createdAt", "updatedAt")
SELECT (c - 1) * 100 + k,
       c,
       w.name[1 + (k - 1) % 50] || CASE WHEN k > 50 THEN ' (organic)' ELSE '' END,
       w.unit[1 + (k - 1) % 50],
       CASE w.unit[1 + (k - 1) % 50] WHEN 'each' THEN 6 + x.h % 4 * 6 ELSE 250 * (1 + x.h % 8) END,
       round(0.99 + (x.h / 8) % 4000 / 100.0, 2),
       timestamp '2023-01-01' + (x.h % 365) * interval '1 day',
       timestamp '2024-01-01' + (x.h % 365) * interval '1 day'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 100) AS k
CROSS JOIN LATERAL (SELECT hashint4(((c - 1) * 100 + k) # 101) & 2147483647 AS h) AS x
CROSS JOIN (SELECT ARRAY['Flour', 'Sugar', 'Butter', 'Eggs', 'Milk', 'Yeast', 'Salt', 'Olive oil',
                         'Cream', 'Chocolate', 'Vanilla', 'Lemon', 'Garlic', 'Onion', 'Tomato',
                         'Basil', 'Rosemary', 'Thyme', 'Cinnamon', 'Honey', 'Almonds', 'Walnuts',
                         'Hazelnuts', 'Raisins', 'Apples', 'Pears', 'Strawberries', 'Raspberries',
                         'Blueberries', 'Carrots', 'Potatoes', 'Leeks', 'Mushrooms', 'Spinach',
                         'Parmesan', 'Mozzarella', 'Cheddar', 'Ricotta', 'Chicken stock',
                         'Vegetable stock', 'Rice', 'Lentils', 'Chickpeas', 'Oats', 'Rye flour',
                         'Cocoa powder', 'Ginger', 'Orange', 'Pepper', 'Paprika'] AS name,
                   ARRAY['g', 'g', 'g', 'each', 'ml', 'g', 'g', 'ml', 'ml', 'g', 'ml', 'each',
                         'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g',
                         'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'g', 'ml', 'ml', 'g',
                         'g', 'g', 'g', 'g', 'g', 'g', 'each', 'g', 'g'] AS unit) AS w;

-- Name = adjective + flavour + dish; the dish decides the legacy text category.
-- 10% of recipes have no category (k % 10 = 0), 5% no selling price; categoryId stays NULL.
INSERT INTO "Recipe" ("id", "companyId", "name", "description", "method", "category", "categoryId",
                      "sellingPrice", "yieldQuantity", "yieldUnit", "createdAt", "updatedAt")
SELECT (c - 1) * 100 + k,
       c,
       w.adj[x.a] || ' ' || w.flavour[x.f] || ' ' || w.dish[x.d],
       'A ' || lower(w.adj[1 + x.g % cardinality(w.adj)]) || ' ' || lower(w.dish[x.d]) || ' with '
           || lower(w.flavour[x.f]) || ' and ' || lower(w.flavour[1 + (x.f + x.g / 16 % (cardinality(w.flavour) - 1)) % cardinality(w.flavour)])
           || ', ' || w.serve[1 + x.g / 256 % cardinality(w.serve)] || '.',
       w.step[1 + x.g % 3] || ' ' || w.step[4 + x.h % 3] || ' ' || w.step[7 + x.g / 3 % 3] || ' '
           || w.step[10 + x.h / 3 % 3] || ' ' || w.step[13 + x.g / 9 % 3]
           || ' Yield: ' || (1 + x.h % 24) || ' x ' || w.yield[1 + x.g / 27 % cardinality(w.yield)] || '.',
       CASE WHEN k % 10 = 0 THEN NULL ELSE w.cat[x.d] END,
       NULL,
       CASE WHEN k % 20 = 7 THEN NULL ELSE round(2.50 + x.h / 7 % 3000 / 100.0, 2) END,
       1 + x.h % 24,
       w.yield[1 + x.g / 27 % cardinality(w.yield)],
       timestamp '2023-01-01' + (x.h % 365) * interval '1 day' + k * interval '1 minute',
       timestamp '2024-01-01' + (x.g % 365) * interval '1 day' + (x.h % 1440) * interval '1 minute'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 100) AS k
CROSS JOIN (SELECT ARRAY['Rustic', 'Classic', 'Spiced', 'Golden', 'Smoked', 'Roasted', 'Creamy',
                         'Crispy', 'Toasted', 'Glazed', 'Wholemeal', 'Country'] AS adj,
                   ARRAY['Lemon', 'Garlic', 'Herb', 'Chocolate', 'Honey', 'Almond', 'Apple',
                         'Tomato', 'Mushroom', 'Cinnamon', 'Raspberry', 'Walnut', 'Ginger',
                         'Cheddar', 'Rosemary', 'Vanilla'] AS flavour,
                   ARRAY['Sourdough', 'Focaccia', 'Brioche', 'Loaf', 'Flatbread',
                         'Cake', 'Muffin', 'Croissant', 'Scone', 'Galette',
                         'Soup', 'Salad', 'Stew', 'Pie', 'Risotto', 'Quiche',
                         'Tart', 'Crumble', 'Cookies', 'Pudding',
                         'Chutney', 'Pesto', 'Lemonade', 'Smoothie', 'Coleslaw', 'Roast Potatoes'] AS dish,
                   ARRAY['Breads', 'Breads', 'Breads', 'Breads', 'Breads',
                         'Cakes', 'Cakes', 'Pastries', 'Pastries', 'Pastries',
                         'Soups', 'Salads', 'Mains', 'Mains', 'Mains', 'Mains',
                         'Desserts', 'Desserts', 'Desserts', 'Desserts',
                         'Sauces', 'Sauces', 'Drinks', 'Drinks', 'Sides', 'Sides'] AS cat,
                   ARRAY['served warm', 'best eaten the same day', 'a customer favourite',
                         'made fresh every morning', 'perfect for catering', 'a seasonal special',
                         'great with coffee', 'baked in small batches'] AS serve,
                   ARRAY['portion', 'loaf', 'piece', 'litre', 'tray', 'dozen'] AS yield,
                   ARRAY['Weigh all ingredients and bring them to room temperature.',
                         'Preheat the oven to 180C.',
                         'Sift the dry ingredients into a large bowl.',
                         'Rub the butter into the flour until it resembles breadcrumbs.',
                         'Whisk the eggs with the sugar until pale.',
                         'Sweat the onions and garlic gently without colour.',
                         'Knead the dough for ten minutes until smooth.',
                         'Fold in the fruit and nuts.',
                         'Simmer the stock and season to taste.',
                         'Leave to proof in a warm place until doubled.',
                         'Chill the mixture for at least an hour.',
                         'Blend until smooth and pass through a fine sieve.',
                         'Bake until golden and a skewer comes out clean.',
                         'Glaze while still warm and leave to cool on a wire rack.',
                         'Portion, label with the date and store chilled.'] AS step) AS w
CROSS JOIN LATERAL (SELECT h, g,
                           1 + h % cardinality(w.adj) AS a,
                           1 + h / 16 % cardinality(w.flavour) AS f,
                           1 + h / 256 % cardinality(w.dish) AS d
                    FROM (SELECT hashint4((c - 1) * 100 + k) & 2147483647 AS h,
                                 hashint4(-((c - 1) * 100 + k)) & 2147483647 AS g) AS hashes) AS x;

INSERT INTO "RecipeSection" ("id", "recipeId", "name", "order", "createdAt")
SELECT (r."id" - 1) * 3 + s,
       r."id",
       (ARRAY['Base', 'Filling', 'Finish', 'Dough', 'Topping', 'Glaze', 'Mix', 'Sauce', 'Garnish'])[(hashint4(r."id" # 211) & 2147483647) % 3 * 3 + s],
       s,
       r."createdAt"
FROM "Recipe" AS r
CROSS JOIN generate_series(1, 3) AS s;

-- 20 distinct ingredients of the recipe's own company: (offset + j * step) mod 100 with step
-- coprime to 100. Items 7 and 14 have no section; the others fall in sections 1..3 in order.
INSERT INTO "RecipeItem" ("id", "recipeId", "ingredientId", "sectionId", "quantity", "unit", "createdAt")
SELECT (r."id" - 1) * 20 + j,
       r."id",
       i."id",
       CASE WHEN j % 7 = 0 THEN NULL ELSE (r."id" - 1) * 3 + 1 + (j - 1) * 3 / 20 END,
       CASE i."unit" WHEN 'each' THEN 1 + x.q % 6 ELSE round(5 + x.q % 4950 / 10.0, 1) END,
       i."unit",
       r."createdAt"
FROM "Recipe" AS r
CROSS JOIN generate_series(1, 20) AS j
CROSS JOIN LATERAL (SELECT hashint4(r."id" # 223) & 2147483647 AS h,
                           hashint4(((r."id" - 1) * 20 + j) # 227) & 2147483647 AS q) AS x
JOIN "Ingredient" AS i
  ON i."id" = (r."companyId" - 1) * 100 + 1
              + (x.h % 100 + j * (ARRAY[1, 3, 7, 9, 11, 13, 17, 19])[1 + x.h / 100 % 8]) % 100;

INSERT INTO "ProductionPlan" ("id", "companyId", "name", "date", "createdBy", "createdAt")
SELECT (c - 1) * 20 + p,
       c,
       'Production run ' || p || ' (' || to_char(timestamp '2024-01-01' + (p - 1) * interval '18 days', 'DD Mon') || ')',
       timestamp '2024-01-01' + (p - 1) * interval '18 days' + interval '5 hours',
       (c - 1) * 10 + 1 + (hashint4(((c - 1) * 20 + p) # 307) & 2147483647) % 10,
       timestamp '2024-01-01' + (p - 1) * interval '18 days' - interval '2 days'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 20) AS p;

INSERT INTO "ProductionTask" ("id", "planId", "recipeId", "quantity", "status", "assignedTo", "createdAt")
SELECT (pp."id" - 1) * 10 + t,
       pp."id",
       (pp."companyId" - 1) * 100 + 1 + x.h % 100,
       1 + x.h / 100 % 50,
       (ARRAY['pending', 'in_progress', 'done', 'done', 'cancelled'])[1 + x.h / 5000 % 5],
       CASE WHEN x.h / 25000 % 5 = 0 THEN NULL ELSE (pp."companyId" - 1) * 10 + 1 + x.h / 125000 % 10 END,
       pp."createdAt" + t * interval '1 minute'
FROM "ProductionPlan" AS pp
CROSS JOIN generate_series(1, 10) AS t
CROSS JOIN LATERAL (SELECT hashint4(((pp."id" - 1) * 10 + t) # 401) & 2147483647 AS h) AS x;

-- 10 movements per ingredient, spread over 2024.
INSERT INTO "InventoryMovement" ("id", "companyId", "ingredientId", "quantity", "type", "createdBy", "createdAt")
SELECT (c - 1) * 1000 + m,
       c,
       (c - 1) * 100 + 1 + (m - 1) % 100,
       round(1 + x.h % 5000 / 10.0, 1),
       (ARRAY['purchase', 'usage', 'usage', 'waste', 'adjustment'])[1 + x.h / 5000 % 5],
       (c - 1) * 10 + 1 + x.h / 25000 % 10,
       timestamp '2024-01-01' + (x.g % 527040) * interval '1 minute'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 1000) AS m
CROSS JOIN LATERAL (SELECT hashint4(((c - 1) * 1000 + m) # 503) & 2147483647 AS h,
                           hashint4(((c - 1) * 1000 + m) # 509) & 2147483647 AS g) AS x;

INSERT INTO "SalesRecord" ("id", "companyId", "recipeId", "date", "quantity", "revenue", "createdAt")
SELECT s.id,
       s.c,
       r."id",
       s.day,
       s.qty,
       s.qty * coalesce(r."sellingPrice", 4.50),
       s.day + interval '20 hours'
FROM (SELECT (c - 1) * 2000 + k AS id,
             c,
             (c - 1) * 100 + 1 + x.h % 100 AS recipe_id,
             timestamp '2024-01-01' + (x.h / 100 % 366) * interval '1 day' AS day,
             1 + x.h / 36600 % 20 AS qty
      FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
      CROSS JOIN generate_series(1, 2000) AS k
      CROSS JOIN LATERAL (SELECT hashint4(((c - 1) * 2000 + k) # 601) & 2147483647 AS h) AS x) AS s
JOIN "Recipe" AS r ON r."id" = s.recipe_id;

INSERT INTO "ProductionHistory" ("id", "companyId", "recipeId", "date", "quantity", "createdAt")
SELECT (c - 1) * 1000 + k,
       c,
       (c - 1) * 100 + 1 + x.h % 100,
       timestamp '2024-01-01' + (x.h / 100 % 366) * interval '1 day',
       1 + x.h / 36600 % 80,
       timestamp '2024-01-01' + (x.h / 100 % 366) * interval '1 day' + interval '18 hours'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 1000) AS k
CROSS JOIN LATERAL (SELECT hashint4(((c - 1) * 1000 + k) # 701) & 2147483647 AS h) AS x;

-- 40 notifications per user, about a third unread.
INSERT INTO "Notification" ("id", "userId", "type", "message", "read", "createdAt")
SELECT (u - 1) * 40 + k,
       u,
       w.kind[1 + x.h % 5],
       w.text[1 + x.h % 5] || ' (#' || ((u - 1) * 40 + k) || ')',
       x.h / 5 % 3 <> 0,
       timestamp '2024-01-01' + (x.h / 15 % 527040) * interval '1 minute'
FROM generate_series(1, 10 * current_setting('sample_app.companies')::int) AS u
CROSS JOIN generate_series(1, 40) AS k
CROSS JOIN LATERAL (SELECT hashint4(((u - 1) * 40 + k) # 809) & 2147483647 AS h) AS x
CROSS JOIN (SELECT ARRAY['low_stock', 'order_received', 'task_assigned', 'price_change', 'system'] AS kind,
                   ARRAY['An ingredient is running low', 'A new wholesale order arrived',
                         'A production task was assigned to you', 'A supplier changed a pack price',
                         'Scheduled maintenance tonight'] AS text) AS w;

INSERT INTO "WholesaleOrder" ("id", "companyId", "customerName", "status", "orderDate", "total", "createdAt")
SELECT (c - 1) * 200 + k,
       c,
       w.customer[1 + x.h % cardinality(w.customer)],
       (ARRAY['pending', 'confirmed', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled'])[1 + x.h / 16 % 7],
       timestamp '2024-01-01' + (x.h / 112 % 366) * interval '1 day' + interval '9 hours',
       round(25 + x.h / 40992 % 50000 / 100.0, 2),
       timestamp '2024-01-01' + (x.h / 112 % 366) * interval '1 day' + interval '9 hours'
FROM generate_series(1, current_setting('sample_app.companies')::int) AS c
CROSS JOIN generate_series(1, 200) AS k
CROSS JOIN LATERAL (SELECT hashint4(((c - 1) * 200 + k) # 907) & 2147483647 AS h) AS x
CROSS JOIN (SELECT ARRAY['Corner Cafe', 'The Daily Grind', 'Green Leaf Deli', 'Hotel Aurora',
                         'St. Mary''s School', 'Office Catering Co', 'Farm Shop', 'Bean There',
                         'The Lunch Box', 'City Hospital Canteen', 'Harbour Hotel',
                         'Book & Brew'] AS customer) AS w;

-- Sequences continue after the explicit ids, so the app's own inserts work afterwards.
SELECT setval(pg_get_serial_sequence('"User"', 'id'), (SELECT max("id") FROM "User"));
SELECT setval(pg_get_serial_sequence('"Company"', 'id'), (SELECT max("id") FROM "Company"));
SELECT setval(pg_get_serial_sequence('"Membership"', 'id'), (SELECT max("id") FROM "Membership"));
SELECT setval(pg_get_serial_sequence('"Category"', 'id'), (SELECT max("id") FROM "Category"));
SELECT setval(pg_get_serial_sequence('"Ingredient"', 'id'), (SELECT max("id") FROM "Ingredient"));
SELECT setval(pg_get_serial_sequence('"Recipe"', 'id'), (SELECT max("id") FROM "Recipe"));
SELECT setval(pg_get_serial_sequence('"RecipeSection"', 'id'), (SELECT max("id") FROM "RecipeSection"));
SELECT setval(pg_get_serial_sequence('"RecipeItem"', 'id'), (SELECT max("id") FROM "RecipeItem"));
SELECT setval(pg_get_serial_sequence('"ProductionPlan"', 'id'), (SELECT max("id") FROM "ProductionPlan"));
SELECT setval(pg_get_serial_sequence('"ProductionTask"', 'id'), (SELECT max("id") FROM "ProductionTask"));
SELECT setval(pg_get_serial_sequence('"InventoryMovement"', 'id'), (SELECT max("id") FROM "InventoryMovement"));
SELECT setval(pg_get_serial_sequence('"SalesRecord"', 'id'), (SELECT max("id") FROM "SalesRecord"));
SELECT setval(pg_get_serial_sequence('"ProductionHistory"', 'id'), (SELECT max("id") FROM "ProductionHistory"));
SELECT setval(pg_get_serial_sequence('"Notification"', 'id'), (SELECT max("id") FROM "Notification"));
SELECT setval(pg_get_serial_sequence('"WholesaleOrder"', 'id'), (SELECT max("id") FROM "WholesaleOrder"));

ANALYZE;
