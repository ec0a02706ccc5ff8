-- Lineage cases, written for pgmeta. Each case is `-- case: <title>`, the SQL (one or more
-- statements, analysed in order in one session), then what is expected of the union of
-- their lineage. Keys: sources, targets, columns (`from > to`), unresolved, renames, kind;
-- lists are separated by ` | `, `-` is the empty list; `-- no catalog` resolves without a
-- catalog, `-- error` expects a parse error. Unlisted keys are not checked.
-- The catalog is the fixture in tests.rs (search_path = public).

---------------------------------------------------------------- plain queries
-- case: select one table
SELECT id, name FROM customers;
-- kind: SELECT
-- sources: public.customers
-- targets: -
-- columns: -

-- case: select qualified table
SELECT total FROM sales.orders WHERE region = 'eu';
-- sources: sales.orders
-- targets: -

-- case: select with join reads both
SELECT c.name, o.amount FROM customers c JOIN orders o ON o.customer_id = c.id;
-- sources: public.customers | public.orders
-- targets: -

-- case: select constant
SELECT 1;
-- sources: -
-- targets: -
-- columns: -

-- case: select from function only
SELECT * FROM generate_series(1, 10) g;
-- sources: -
-- targets: -

-- case: filter subquery table is a source
SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders);
-- sources: public.customers | public.orders

-- case: exists subquery table is a source
SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.customer_id = c.id);
-- sources: public.customers | public.orders | public.payments

-- case: table statement
TABLE sales.daily;
-- sources: sales.daily

-- case: values statement
VALUES (1, 'a'), (2, 'b');
-- sources: -
-- targets: -

-- case: order by subquery
SELECT id FROM customers ORDER BY (SELECT count(*) FROM orders o WHERE o.customer_id = customers.id);
-- sources: public.customers | public.orders

---------------------------------------------------------------- INSERT ... SELECT
-- case: insert select with column list
INSERT INTO analytics.customer_ltv (customer_id, ltv) SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id;
-- kind: INSERT
-- sources: public.orders
-- targets: analytics.customer_ltv
-- columns: public.orders.customer_id > analytics.customer_ltv.customer_id | public.orders.amount > analytics.customer_ltv.ltv

-- case: insert select without column list uses catalog order
INSERT INTO analytics.stage SELECT id, name FROM customers;
-- sources: public.customers
-- targets: analytics.stage
-- columns: public.customers.id > analytics.stage.id | public.customers.name > analytics.stage.val

-- case: insert select positional not by name
INSERT INTO analytics.stage (val, id) SELECT id, name FROM customers;
-- columns: public.customers.id > analytics.stage.val | public.customers.name > analytics.stage.id

-- case: insert select star from same shaped table
INSERT INTO t2 SELECT * FROM t1;
-- sources: public.t1
-- targets: public.t2
-- columns: public.t1.a > public.t2.a | public.t1.b > public.t2.b | public.t1.c > public.t2.c

-- case: insert select qualified star
INSERT INTO t2 SELECT t1.* FROM t1 JOIN t3 ON t3.x = t1.a;
-- sources: public.t1 | public.t3
-- columns: public.t1.a > public.t2.a | public.t1.b > public.t2.b | public.t1.c > public.t2.c

-- case: insert with expression of two columns
INSERT INTO analytics.stage (id, val) SELECT id, name || ' <' || email || '>' FROM customers;
-- columns: public.customers.id > analytics.stage.id | public.customers.name > analytics.stage.val | public.customers.email > analytics.stage.val

-- case: insert with constants has no column source
INSERT INTO audit_log (id, tbl, op, at) SELECT id, 'orders', 'I', now() FROM orders;
-- sources: public.orders
-- targets: public.audit_log
-- columns: public.orders.id > public.audit_log.id

-- case: insert from join
INSERT INTO analytics.order_facts (order_id, customer_id, amount, day)
SELECT o.id, c.id, o.amount, o.ordered_at::date FROM orders o JOIN customers c ON c.id = o.customer_id;
-- sources: public.customers | public.orders
-- targets: analytics.order_facts
-- columns: public.orders.id > analytics.order_facts.order_id | public.customers.id > analytics.order_facts.customer_id | public.orders.amount > analytics.order_facts.amount | public.orders.ordered_at > analytics.order_facts.day

-- case: insert join key is not column lineage
INSERT INTO analytics.stage (id, val) SELECT o.id, p.amount FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.status = 'paid';
-- columns: public.orders.id > analytics.stage.id | public.payments.amount > analytics.stage.val

-- case: insert select into same table has no self edges
INSERT INTO t1 (a, b, c) SELECT a, b, c + 1 FROM t1 WHERE a > 10;
-- sources: public.t1
-- targets: public.t1
-- columns: -

-- case: insert into qualified target with unqualified source
INSERT INTO sales.summary (region, total, orders) SELECT region, sum(total), count(*) FROM sales.orders GROUP BY region;
-- columns: sales.orders.region > sales.summary.region | sales.orders.total > sales.summary.total

-- case: insert count distinct column
INSERT INTO sales.summary (region, total, orders) SELECT region, sum(total), count(DISTINCT customer_id) FROM sales.orders GROUP BY region;
-- columns: sales.orders.region > sales.summary.region | sales.orders.total > sales.summary.total | sales.orders.customer_id > sales.summary.orders

-- case: insert from derived table
INSERT INTO analytics.customer_ltv SELECT x.cid, x.total FROM (SELECT customer_id AS cid, sum(amount) AS total FROM orders GROUP BY customer_id) x;
-- sources: public.orders
-- columns: public.orders.customer_id > analytics.customer_ltv.customer_id | public.orders.amount > analytics.customer_ltv.ltv

-- case: insert with scalar subquery column
INSERT INTO analytics.customer_ltv (customer_id, ltv) SELECT c.id, (SELECT sum(o.amount) FROM orders o WHERE o.customer_id = c.id) FROM customers c;
-- sources: public.customers | public.orders
-- columns: public.customers.id > analytics.customer_ltv.customer_id | public.orders.amount > analytics.customer_ltv.ltv

-- case: insert returning
INSERT INTO analytics.stage (id, val) SELECT id, name FROM depts RETURNING id;
-- sources: public.depts
-- targets: analytics.stage
-- columns: public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: insert values has no sources
INSERT INTO depts (id, name) VALUES (1, 'ops'), (2, 'eng');
-- kind: INSERT
-- sources: -
-- targets: public.depts
-- columns: -

-- case: insert values with scalar subquery
INSERT INTO sales.targets (region, goal) VALUES ('eu', (SELECT max(total) FROM sales.daily));
-- sources: sales.daily
-- targets: sales.targets
-- columns: sales.daily.total > sales.targets.goal

-- case: insert on conflict do update
INSERT INTO analytics.customer_ltv (customer_id, ltv) SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id
ON CONFLICT (customer_id) DO UPDATE SET ltv = EXCLUDED.ltv;
-- sources: public.orders
-- targets: analytics.customer_ltv
-- columns: public.orders.customer_id > analytics.customer_ltv.customer_id | public.orders.amount > analytics.customer_ltv.ltv

-- case: insert on conflict do nothing
INSERT INTO depts SELECT id, name FROM depts WHERE false ON CONFLICT DO NOTHING;
-- sources: public.depts
-- targets: public.depts
-- columns: -

-- case: insert default values
INSERT INTO events DEFAULT VALUES;
-- sources: -
-- targets: public.events

-- case: insert with window function
INSERT INTO analytics.stage (id, val) SELECT id, row_number() OVER (PARTITION BY kind ORDER BY at) FROM events;
-- columns: public.events.id > analytics.stage.id | public.events.kind > analytics.stage.val | public.events.at > analytics.stage.val

---------------------------------------------------------------- CREATE TABLE AS
-- case: ctas simple
CREATE TABLE analytics.big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
-- kind: CREATE_TABLE_AS
-- sources: public.orders
-- targets: analytics.big_orders
-- columns: public.orders.id > analytics.big_orders.id | public.orders.amount > analytics.big_orders.amount

-- case: ctas unqualified target goes to first search path schema
CREATE TABLE order_copy AS SELECT * FROM orders;
-- targets: public.order_copy
-- columns: public.orders.id > public.order_copy.id | public.orders.customer_id > public.order_copy.customer_id | public.orders.amount > public.order_copy.amount | public.orders.status > public.order_copy.status | public.orders.ordered_at > public.order_copy.ordered_at

-- case: ctas with a bare column list is beyond sqlparser (a known limitation, reported)
CREATE TABLE analytics.x (k, v) AS SELECT id, name FROM depts;
-- error

-- case: ctas with aliases
CREATE TABLE analytics.rev AS SELECT customer_id AS cust, sum(amount) AS revenue FROM orders GROUP BY 1;
-- columns: public.orders.customer_id > analytics.rev.cust | public.orders.amount > analytics.rev.revenue

-- case: ctas unnamed expression has no column
CREATE TABLE analytics.y AS SELECT id, amount * 2 FROM orders;
-- columns: public.orders.id > analytics.y.id

-- case: ctas function keeps function name
CREATE TABLE analytics.z AS SELECT max(amount) FROM orders;
-- columns: public.orders.amount > analytics.z.max

-- case: ctas cast keeps column name
CREATE TABLE analytics.w AS SELECT amount::numeric(12,2), status::text FROM orders;
-- columns: public.orders.amount > analytics.w.amount | public.orders.status > analytics.w.status

-- case: ctas if not exists with cte
CREATE TABLE IF NOT EXISTS analytics.v AS WITH s AS (SELECT order_id, sum(qty * price) AS total FROM order_items GROUP BY order_id) SELECT order_id, total FROM s;
-- sources: public.order_items
-- targets: analytics.v
-- columns: public.order_items.order_id > analytics.v.order_id | public.order_items.qty > analytics.v.total | public.order_items.price > analytics.v.total

-- case: ctas unlogged
CREATE UNLOGGED TABLE analytics.u AS SELECT id FROM events;
-- sources: public.events
-- targets: analytics.u
-- columns: public.events.id > analytics.u.id

-- case: create table without query has no lineage
CREATE TABLE analytics.plain (id int, v text);
-- kind: CREATE_TABLE
-- sources: -
-- targets: -

-- case: ctas three part name in current database
CREATE TABLE "shop"."analytics"."t" AS SELECT a FROM "shop"."public"."t1";
-- sources: public.t1
-- targets: analytics.t
-- columns: public.t1.a > analytics.t.a

---------------------------------------------------------------- SELECT INTO
-- case: select into new table
SELECT id, name INTO analytics.dept_copy FROM depts;
-- kind: SELECT_INTO
-- sources: public.depts
-- targets: analytics.dept_copy
-- columns: public.depts.id > analytics.dept_copy.id | public.depts.name > analytics.dept_copy.name

-- case: select into unqualified
SELECT customer_id, count(*) AS n INTO order_counts FROM orders GROUP BY customer_id;
-- targets: public.order_counts
-- columns: public.orders.customer_id > public.order_counts.customer_id

-- case: select into temp then insert goes through temp
SELECT id, amount INTO TEMP tmp_big FROM orders WHERE amount > 1000;
INSERT INTO analytics.stage (id, val) SELECT id, amount FROM tmp_big;
-- sources: public.orders
-- targets: analytics.stage
-- columns: public.orders.id > analytics.stage.id | public.orders.amount > analytics.stage.val

-- case: select into with join
SELECT o.id, c.email INTO analytics.contact FROM orders o JOIN customers c ON c.id = o.customer_id;
-- columns: public.orders.id > analytics.contact.id | public.customers.email > analytics.contact.email

-- case: select into from union
SELECT a INTO analytics.all_a FROM t1 UNION SELECT a FROM t2;
-- sources: public.t1 | public.t2
-- targets: analytics.all_a
-- columns: public.t1.a > analytics.all_a.a | public.t2.a > analytics.all_a.a

---------------------------------------------------------------- views
-- case: create view
CREATE VIEW order_summary AS SELECT customer_id, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer_id;
-- kind: CREATE_VIEW
-- sources: public.orders
-- targets: public.order_summary
-- columns: public.orders.customer_id > public.order_summary.customer_id | public.orders.amount > public.order_summary.total

-- case: create or replace view with column list
CREATE OR REPLACE VIEW sales.v_regions (r, t) AS SELECT region, total FROM sales.daily;
-- targets: sales.v_regions
-- columns: sales.daily.region > sales.v_regions.r | sales.daily.total > sales.v_regions.t

-- case: materialized view
CREATE MATERIALIZED VIEW analytics.mv_revenue AS SELECT p.category, sum(i.qty * i.price) AS revenue FROM order_items i JOIN products p ON p.id = i.product_id GROUP BY p.category;
-- kind: CREATE_MATERIALIZED_VIEW
-- sources: public.order_items | public.products
-- targets: analytics.mv_revenue
-- columns: public.products.category > analytics.mv_revenue.category | public.order_items.qty > analytics.mv_revenue.revenue | public.order_items.price > analytics.mv_revenue.revenue

-- case: materialized view with no data
CREATE MATERIALIZED VIEW analytics.mv2 AS SELECT id FROM events WITH NO DATA;
-- sources: public.events
-- targets: analytics.mv2
-- columns: public.events.id > analytics.mv2.id

-- case: view over view style star
CREATE VIEW v_t1 AS SELECT * FROM t1;
-- columns: public.t1.a > public.v_t1.a | public.t1.b > public.v_t1.b | public.t1.c > public.v_t1.c

-- case: view as pg_get_viewdef prints it
CREATE VIEW customer_orders AS  SELECT c.id,
    c.name,
    count(o.id) AS orders
   FROM (customers c
     LEFT JOIN orders o ON ((o.customer_id = c.id)))
  GROUP BY c.id, c.name;
-- sources: public.customers | public.orders
-- columns: public.customers.id > public.customer_orders.id | public.customers.name > public.customer_orders.name | public.orders.id > public.customer_orders.orders

-- case: view with case expression
CREATE VIEW order_flags AS SELECT id, CASE WHEN status = 'paid' THEN amount ELSE 0 END AS paid_amount FROM orders;
-- columns: public.orders.id > public.order_flags.id | public.orders.status > public.order_flags.paid_amount | public.orders.amount > public.order_flags.paid_amount

-- case: view with coalesce over two tables
CREATE VIEW contact AS SELECT coalesce(c.email, e.name) AS contact FROM customers c FULL JOIN employees e ON e.id = c.id;
-- columns: public.customers.email > public.contact.contact | public.employees.name > public.contact.contact

-- case: temporary view is not a target
CREATE TEMP VIEW tv AS SELECT id FROM orders;
SELECT id FROM tv;
-- sources: public.orders
-- targets: -
-- columns: -

-- case: recursive view is beyond sqlparser (a known limitation, reported)
CREATE RECURSIVE VIEW reports (id, manager_id) AS SELECT id, manager_id FROM employees WHERE manager_id IS NULL UNION ALL SELECT e.id, e.manager_id FROM employees e JOIN reports r ON e.manager_id = r.id;
-- error

-- case: view with window and filter
CREATE VIEW ranked AS SELECT id, rank() OVER (ORDER BY amount DESC) AS rnk FROM orders WHERE status <> 'void';
-- columns: public.orders.id > public.ranked.id | public.orders.amount > public.ranked.rnk

-- case: view in odd schema with quoted names
CREATE VIEW "Odd Schema"."V 1" AS SELECT "Id", "Value Col" AS "Val" FROM "Odd Schema"."Mixed Case";
-- sources: "Odd Schema"."Mixed Case"
-- targets: "Odd Schema"."V 1"
-- columns: "Odd Schema"."Mixed Case"."Id" > "Odd Schema"."V 1"."Id" | "Odd Schema"."Mixed Case"."Value Col" > "Odd Schema"."V 1"."Val"

---------------------------------------------------------------- UPDATE
-- case: update from
UPDATE sales.summary s SET total = d.total FROM sales.daily d WHERE d.region = s.region;
-- kind: UPDATE
-- sources: sales.daily
-- targets: sales.summary
-- columns: sales.daily.total > sales.summary.total

-- case: update constant has no sources
UPDATE orders SET status = 'void' WHERE amount < 0;
-- sources: -
-- targets: public.orders
-- columns: -

-- case: update with scalar subquery
UPDATE customers c SET name = (SELECT d.name FROM depts d WHERE d.id = c.id);
-- sources: public.depts
-- targets: public.customers
-- columns: public.depts.name > public.customers.name

-- case: update where subquery is a source but not column lineage
UPDATE orders SET status = 'vip' WHERE customer_id IN (SELECT customer_id FROM analytics.customer_ltv WHERE ltv > 1000);
-- sources: analytics.customer_ltv
-- targets: public.orders
-- columns: -

-- case: update multiple assignments
UPDATE analytics.order_facts f SET amount = o.amount, day = o.ordered_at::date FROM orders o WHERE o.id = f.order_id;
-- columns: public.orders.amount > analytics.order_facts.amount | public.orders.ordered_at > analytics.order_facts.day

-- case: update tuple from subquery
UPDATE analytics.stage SET (id, val) = (SELECT x, y FROM t3 LIMIT 1);
-- sources: public.t3
-- columns: public.t3.x > analytics.stage.id | public.t3.y > analytics.stage.val

-- case: update self reference is not lineage
UPDATE products SET price = price * 1.1 WHERE category = 'books';
-- sources: -
-- targets: public.products
-- columns: -

-- case: update from join of two tables
UPDATE sales.summary s SET total = o.total + d.total FROM sales.orders o JOIN sales.daily d ON d.region = o.region WHERE s.region = o.region;
-- sources: sales.daily | sales.orders
-- columns: sales.orders.total > sales.summary.total | sales.daily.total > sales.summary.total

-- case: update returning reads the updated rows
UPDATE orders SET amount = p.amount FROM payments p WHERE p.order_id = orders.id RETURNING orders.id;
-- sources: public.orders | public.payments
-- targets: public.orders
-- columns: public.payments.amount > public.orders.amount

-- case: update unqualified column from from-table
UPDATE analytics.customer_ltv SET ltv = amount FROM payments WHERE payments.order_id = customer_id;
-- columns: public.payments.amount > analytics.customer_ltv.ltv

-- case: update with normalized parameters
UPDATE orders SET status = $1 WHERE id = $2;
-- sources: -
-- targets: public.orders

---------------------------------------------------------------- DELETE
-- case: delete using
DELETE FROM orders o USING customers c WHERE c.id = o.customer_id AND c.email IS NULL;
-- kind: DELETE
-- sources: public.customers
-- targets: public.orders
-- columns: -

-- case: delete simple
DELETE FROM events WHERE at < now() - interval '30 days';
-- sources: -
-- targets: public.events

-- case: delete with subquery
DELETE FROM payments WHERE order_id NOT IN (SELECT id FROM orders);
-- sources: public.orders
-- targets: public.payments

-- case: delete with exists
DELETE FROM sales.daily d WHERE NOT EXISTS (SELECT 1 FROM sales.targets t WHERE t.region = d.region);
-- sources: sales.targets
-- targets: sales.daily

-- case: delete returning into insert via cte
WITH moved AS (DELETE FROM events WHERE at < now() - interval '1 year' RETURNING id, kind) INSERT INTO analytics.stage (id, val) SELECT id, kind FROM moved;
-- sources: public.events
-- targets: analytics.stage | public.events
-- columns: public.events.id > analytics.stage.id | public.events.kind > analytics.stage.val

-- case: delete with parameter
DELETE FROM customers WHERE id = $1;
-- sources: -
-- targets: public.customers

-- case: delete only
DELETE FROM ONLY sales.orders WHERE region = 'x';
-- targets: sales.orders

-- case: truncate has no lineage
TRUNCATE analytics.stage;
-- kind: OTHER
-- sources: -
-- targets: -

---------------------------------------------------------------- MERGE
-- case: merge update and insert
MERGE INTO analytics.customer_ltv t USING (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id) s ON t.customer_id = s.customer_id
WHEN MATCHED THEN UPDATE SET ltv = s.total
WHEN NOT MATCHED THEN INSERT (customer_id, ltv) VALUES (s.customer_id, s.total);
-- kind: MERGE
-- sources: public.orders
-- targets: analytics.customer_ltv
-- columns: public.orders.amount > analytics.customer_ltv.ltv | public.orders.customer_id > analytics.customer_ltv.customer_id

-- case: merge from table
MERGE INTO sales.summary s USING sales.daily d ON s.region = d.region
WHEN MATCHED THEN UPDATE SET total = s.total + d.total;
-- sources: sales.daily
-- targets: sales.summary
-- columns: sales.daily.total > sales.summary.total

-- case: merge delete only
MERGE INTO orders o USING payments p ON p.order_id = o.id WHEN MATCHED AND p.amount = 0 THEN DELETE;
-- sources: public.payments
-- targets: public.orders
-- columns: -

-- case: merge insert without column list
MERGE INTO depts d USING employees e ON e.dept_id = d.id WHEN NOT MATCHED THEN INSERT VALUES (e.dept_id, e.name);
-- sources: public.employees
-- columns: public.employees.dept_id > public.depts.id | public.employees.name > public.depts.name

-- case: merge do nothing
MERGE INTO t1 USING t2 ON t1.a = t2.a WHEN MATCHED THEN DO NOTHING;
-- sources: public.t2
-- targets: public.t1
-- columns: -

-- case: merge with cte source
WITH s AS (SELECT x, y FROM t3) MERGE INTO t1 USING s ON t1.a = s.x WHEN MATCHED THEN UPDATE SET b = s.y;
-- sources: public.t3
-- targets: public.t1
-- columns: public.t3.y > public.t1.b

-- case: merge insert expression
MERGE INTO analytics.stage st USING customers c ON st.id = c.id WHEN NOT MATCHED THEN INSERT (id, val) VALUES (c.id, upper(c.name) || c.email);
-- columns: public.customers.id > analytics.stage.id | public.customers.name > analytics.stage.val | public.customers.email > analytics.stage.val

-- case: merge with parameter
MERGE INTO depts d USING (SELECT $1::int AS id, $2::text AS name) s ON s.id = d.id WHEN MATCHED THEN UPDATE SET name = s.name;
-- sources: -
-- targets: public.depts
-- columns: -

---------------------------------------------------------------- CTEs
-- case: cte feeding insert
WITH recent AS (SELECT id, amount FROM orders WHERE ordered_at > now() - interval '7 days')
INSERT INTO analytics.stage (id, val) SELECT id, amount FROM recent;
-- sources: public.orders
-- targets: analytics.stage
-- columns: public.orders.id > analytics.stage.id | public.orders.amount > analytics.stage.val

-- case: insert with cte after insert keyword
INSERT INTO analytics.stage (id, val) WITH r AS (SELECT id, name FROM depts) SELECT id, name FROM r;
-- sources: public.depts
-- columns: public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: cte chain
WITH a AS (SELECT id, amount FROM orders), b AS (SELECT id, amount * 2 AS doubled FROM a)
SELECT id, doubled INTO analytics.dbl FROM b;
-- sources: public.orders
-- columns: public.orders.id > analytics.dbl.id | public.orders.amount > analytics.dbl.doubled

-- case: cte with column list
WITH c(k, v) AS (SELECT id, name FROM customers) CREATE TABLE analytics.kv AS SELECT k, v FROM c;
-- error

-- case: ctas with cte column list
CREATE TABLE analytics.kv AS WITH c(k, v) AS (SELECT id, name FROM customers) SELECT k, v FROM c;
-- columns: public.customers.id > analytics.kv.k | public.customers.name > analytics.kv.v

-- case: cte name shadows table
WITH orders AS (SELECT id, total AS amount FROM sales.orders) INSERT INTO analytics.stage (id, val) SELECT id, amount FROM orders;
-- sources: sales.orders
-- columns: sales.orders.id > analytics.stage.id | sales.orders.total > analytics.stage.val

-- case: recursive cte
WITH RECURSIVE chain(id, manager_id, name) AS (
  SELECT id, manager_id, name FROM employees WHERE manager_id IS NULL
  UNION ALL
  SELECT e.id, e.manager_id, e.name FROM employees e JOIN chain c ON e.manager_id = c.id)
INSERT INTO analytics.stage (id, val) SELECT id, name FROM chain;
-- sources: public.employees
-- targets: analytics.stage
-- columns: public.employees.id > analytics.stage.id | public.employees.name > analytics.stage.val

-- case: recursive cte with counter
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n;
-- sources: -
-- targets: -

-- case: recursive cte mixing a table in the recursive term
WITH RECURSIVE tree AS (SELECT id, name FROM depts WHERE id = 1 UNION ALL SELECT e.id, e.name FROM employees e JOIN tree t ON e.dept_id = t.id)
CREATE TABLE x AS SELECT 1;
-- error

-- case: recursive cte into ctas
CREATE TABLE analytics.tree AS WITH RECURSIVE tree AS (SELECT id, name FROM depts WHERE id = 1 UNION ALL SELECT e.id, e.name FROM employees e JOIN tree t ON e.dept_id = t.id) SELECT id, name FROM tree;
-- sources: public.depts | public.employees
-- columns: public.depts.id > analytics.tree.id | public.depts.name > analytics.tree.name | public.employees.id > analytics.tree.id | public.employees.name > analytics.tree.name

-- case: cte used twice
WITH s AS (SELECT region, total FROM sales.daily) INSERT INTO sales.summary (region, total) SELECT a.region, a.total + b.total FROM s a JOIN s b ON a.region = b.region;
-- sources: sales.daily
-- columns: sales.daily.region > sales.summary.region | sales.daily.total > sales.summary.total

-- case: data modifying cte insert returning
WITH ins AS (INSERT INTO depts (id, name) SELECT dept_id, name FROM employees RETURNING id, name) SELECT * FROM ins;
-- sources: public.employees
-- targets: public.depts
-- columns: public.employees.dept_id > public.depts.id | public.employees.name > public.depts.name

-- case: data modifying cte update
WITH upd AS (UPDATE orders SET status = 'shipped' WHERE status = 'paid' RETURNING id) INSERT INTO audit_log (id, tbl) SELECT id, 'orders' FROM upd;
-- sources: public.orders
-- targets: public.audit_log | public.orders
-- columns: public.orders.id > public.audit_log.id

-- case: nested cte inside subquery
INSERT INTO analytics.stage (id, val) SELECT id, v FROM (WITH q AS (SELECT x AS id, y AS v FROM t3) SELECT * FROM q) sub;
-- sources: public.t3
-- columns: public.t3.x > analytics.stage.id | public.t3.y > analytics.stage.val

-- case: materialized cte hint
WITH s AS MATERIALIZED (SELECT a, b FROM t1) INSERT INTO t2 (a, b) SELECT a, b FROM s;
-- sources: public.t1
-- columns: public.t1.a > public.t2.a | public.t1.b > public.t2.b

---------------------------------------------------------------- subqueries
-- case: derived table with alias columns
INSERT INTO analytics.stage SELECT d.k, d.v FROM (SELECT id, name FROM depts) AS d(k, v);
-- columns: public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: nested derived tables
INSERT INTO analytics.stage (id, val) SELECT i, v FROM (SELECT i, v FROM (SELECT x AS i, y AS v FROM t3) a) b;
-- columns: public.t3.x > analytics.stage.id | public.t3.y > analytics.stage.val

-- case: lateral subquery
INSERT INTO analytics.stage (id, val) SELECT c.id, last.amount FROM customers c, LATERAL (SELECT amount FROM orders o WHERE o.customer_id = c.id ORDER BY ordered_at DESC LIMIT 1) last;
-- sources: public.customers | public.orders
-- columns: public.customers.id > analytics.stage.id | public.orders.amount > analytics.stage.val

-- case: left join lateral
INSERT INTO analytics.stage (id, val) SELECT c.id, x.n FROM customers c LEFT JOIN LATERAL (SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id) x ON true;
-- sources: public.customers | public.orders
-- columns: public.customers.id > analytics.stage.id

-- case: scalar subquery in select list of ctas
CREATE TABLE analytics.cnt AS SELECT d.id, (SELECT count(e.id) FROM employees e WHERE e.dept_id = d.id) AS staff FROM depts d;
-- columns: public.depts.id > analytics.cnt.id | public.employees.id > analytics.cnt.staff

-- case: correlated subquery reads outer column only as filter
CREATE TABLE analytics.flag AS SELECT c.id, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AS has_orders FROM customers c;
-- sources: public.customers | public.orders
-- columns: public.customers.id > analytics.flag.id

-- case: in subquery in select list
CREATE TABLE analytics.flag2 AS SELECT id, id IN (SELECT customer_id FROM orders) AS buyer FROM customers;
-- columns: public.customers.id > analytics.flag2.id | public.customers.id > analytics.flag2.buyer | public.orders.customer_id > analytics.flag2.buyer

-- case: any subquery
SELECT id FROM products WHERE price > ALL (SELECT price FROM order_items);
-- sources: public.order_items | public.products

-- case: subquery in join condition
SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id AND o.amount > (SELECT avg(amount) FROM payments);
-- sources: public.customers | public.orders | public.payments

-- case: subquery in having
SELECT customer_id FROM orders GROUP BY customer_id HAVING sum(amount) > (SELECT avg(ltv) FROM analytics.customer_ltv);
-- sources: analytics.customer_ltv | public.orders

-- case: derived table without alias columns star
INSERT INTO t2 SELECT * FROM (SELECT a, b, c FROM t1 WHERE a > 0) s;
-- columns: public.t1.a > public.t2.a | public.t1.b > public.t2.b | public.t1.c > public.t2.c

-- case: array subquery
CREATE TABLE analytics.arr AS SELECT d.id, ARRAY(SELECT e.name FROM employees e WHERE e.dept_id = d.id) AS names FROM depts d;
-- sources: public.depts | public.employees
-- columns: public.depts.id > analytics.arr.id | public.employees.name > analytics.arr.names

-- case: subquery in update where with join
UPDATE products p SET price = 0 WHERE p.id IN (SELECT i.product_id FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status = 'void');
-- sources: public.order_items | public.orders
-- targets: public.products
-- columns: -

-- case: values in from
INSERT INTO depts (id, name) SELECT v.id, v.name FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name);
-- sources: -
-- columns: -

---------------------------------------------------------------- set operations
-- case: union all into table
INSERT INTO t3 (x, y) SELECT a, b FROM t1 UNION ALL SELECT a, b FROM t2;
-- sources: public.t1 | public.t2
-- targets: public.t3
-- columns: public.t1.a > public.t3.x | public.t1.b > public.t3.y | public.t2.a > public.t3.x | public.t2.b > public.t3.y

-- case: union names come from the left
CREATE TABLE analytics.u2 AS SELECT a AS k FROM t1 UNION SELECT x FROM t3;
-- columns: public.t1.a > analytics.u2.k | public.t3.x > analytics.u2.k

-- case: except
CREATE TABLE analytics.only_t1 AS SELECT a, b FROM t1 EXCEPT SELECT a, b FROM t2;
-- sources: public.t1 | public.t2
-- columns: public.t1.a > analytics.only_t1.a | public.t1.b > analytics.only_t1.b | public.t2.a > analytics.only_t1.a | public.t2.b > analytics.only_t1.b

-- case: intersect
SELECT id FROM customers INTERSECT SELECT customer_id FROM orders;
-- sources: public.customers | public.orders
-- targets: -

-- case: three way union
INSERT INTO analytics.stage (id, val) SELECT id, name FROM customers UNION SELECT id, name FROM employees UNION SELECT id, name FROM depts;
-- sources: public.customers | public.depts | public.employees
-- columns: public.customers.id > analytics.stage.id | public.customers.name > analytics.stage.val | public.employees.id > analytics.stage.id | public.employees.name > analytics.stage.val | public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: parenthesized union with order by
INSERT INTO t3 (x) (SELECT a FROM t1) UNION (SELECT a FROM t2) ORDER BY 1;
-- columns: public.t1.a > public.t3.x | public.t2.a > public.t3.x

-- case: union with constant branch
INSERT INTO t3 (x, y) SELECT a, 0 FROM t1 UNION ALL SELECT 0, b FROM t2;
-- columns: public.t1.a > public.t3.x | public.t2.b > public.t3.y

-- case: union inside cte
WITH u AS (SELECT a FROM t1 UNION SELECT a FROM t2) INSERT INTO t3 (x) SELECT a FROM u;
-- columns: public.t1.a > public.t3.x | public.t2.a > public.t3.x

---------------------------------------------------------------- joins
-- case: inner join columns from both sides
CREATE TABLE analytics.j1 AS SELECT o.id AS order_id, c.name FROM orders o INNER JOIN customers c ON c.id = o.customer_id;
-- columns: public.orders.id > analytics.j1.order_id | public.customers.name > analytics.j1.name

-- case: three way join
CREATE TABLE analytics.j2 AS SELECT c.name, p.name AS product, i.qty FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id;
-- sources: public.customers | public.order_items | public.orders | public.products
-- columns: public.customers.name > analytics.j2.name | public.products.name > analytics.j2.product | public.order_items.qty > analytics.j2.qty

-- case: using join key comes from both
CREATE TABLE analytics.j3 AS SELECT a, t1.b, t2.c FROM t1 JOIN t2 USING (a);
-- columns: public.t1.a > analytics.j3.a | public.t2.a > analytics.j3.a | public.t1.b > analytics.j3.b | public.t2.c > analytics.j3.c

-- case: cross join
CREATE TABLE analytics.j4 AS SELECT t1.a, t3.x FROM t1 CROSS JOIN t3;
-- columns: public.t1.a > analytics.j4.a | public.t3.x > analytics.j4.x

-- case: comma join
CREATE TABLE analytics.j5 AS SELECT d.name AS dept, e.name FROM depts d, employees e WHERE e.dept_id = d.id;
-- columns: public.depts.name > analytics.j5.dept | public.employees.name > analytics.j5.name

-- case: unqualified column unique to one joined table
CREATE TABLE analytics.j6 AS SELECT email, amount FROM customers c JOIN orders o ON o.customer_id = c.id;
-- columns: public.customers.email > analytics.j6.email | public.orders.amount > analytics.j6.amount

-- case: self join with aliases
CREATE TABLE analytics.j7 AS SELECT e.name, m.name AS manager FROM employees e LEFT JOIN employees m ON m.id = e.manager_id;
-- sources: public.employees
-- columns: public.employees.name > analytics.j7.name | public.employees.name > analytics.j7.manager

-- case: full outer join
CREATE TABLE analytics.j8 AS SELECT coalesce(t1.a, t2.a) AS a FROM t1 FULL OUTER JOIN t2 ON t1.a = t2.a;
-- columns: public.t1.a > analytics.j8.a | public.t2.a > analytics.j8.a

-- case: nested join in parentheses
CREATE TABLE analytics.j9 AS SELECT t1.a, t3.y FROM (t1 JOIN t2 ON t1.a = t2.a) JOIN t3 ON t3.x = t2.b;
-- sources: public.t1 | public.t2 | public.t3
-- columns: public.t1.a > analytics.j9.a | public.t3.y > analytics.j9.y

-- case: right join
CREATE TABLE analytics.j10 AS SELECT p.name, i.qty FROM order_items i RIGHT JOIN products p ON p.id = i.product_id;
-- columns: public.products.name > analytics.j10.name | public.order_items.qty > analytics.j10.qty

---------------------------------------------------------------- star expansion
-- case: star over join expands both tables
CREATE TABLE analytics.s1 AS SELECT * FROM t1 JOIN t3 ON t3.x = t1.a;
-- columns: public.t1.a > analytics.s1.a | public.t1.b > analytics.s1.b | public.t1.c > analytics.s1.c | public.t3.x > analytics.s1.x | public.t3.y > analytics.s1.y

-- case: qualified star plus column
CREATE TABLE analytics.s2 AS SELECT t3.*, t1.a FROM t1 JOIN t3 ON t3.x = t1.a;
-- columns: public.t3.x > analytics.s2.x | public.t3.y > analytics.s2.y | public.t1.a > analytics.s2.a

-- case: star over cte
CREATE TABLE analytics.s3 AS WITH c AS (SELECT id, amount AS amt FROM orders) SELECT * FROM c;
-- columns: public.orders.id > analytics.s3.id | public.orders.amount > analytics.s3.amt

-- case: star without catalog keeps a table placeholder
CREATE TABLE s4 AS SELECT * FROM src;
-- no catalog
-- sources: src
-- targets: s4
-- columns: src.* > s4.*

-- case: insert star without catalog
INSERT INTO dst SELECT * FROM src;
-- no catalog
-- columns: src.* > dst.*

-- case: star over view-like derived with alias columns
CREATE TABLE analytics.s5 AS SELECT * FROM (SELECT x, y FROM t3) q(p, r);
-- columns: public.t3.x > analytics.s5.p | public.t3.y > analytics.s5.r

-- case: star from table with alias columns
CREATE TABLE analytics.s6 AS SELECT * FROM t3 AS q(p, r);
-- columns: public.t3.x > analytics.s6.p | public.t3.y > analytics.s6.r

-- case: star in exists does not matter
CREATE TABLE analytics.s7 AS SELECT a FROM t1 WHERE EXISTS (SELECT * FROM t2 WHERE t2.a = t1.a);
-- sources: public.t1 | public.t2
-- columns: public.t1.a > analytics.s7.a

---------------------------------------------------------------- expressions
-- case: arithmetic over columns
CREATE TABLE analytics.e1 AS SELECT order_id, qty * price AS line_total FROM order_items;
-- columns: public.order_items.order_id > analytics.e1.order_id | public.order_items.qty > analytics.e1.line_total | public.order_items.price > analytics.e1.line_total

-- case: nested functions
CREATE TABLE analytics.e2 AS SELECT lower(trim(email)) AS email_norm, date_trunc('month', created_at) AS cohort FROM customers;
-- columns: public.customers.email > analytics.e2.email_norm | public.customers.created_at > analytics.e2.cohort

-- case: searched case with several sources
CREATE TABLE analytics.e3 AS SELECT id, CASE WHEN amount > 100 THEN 'big' WHEN status = 'void' THEN 'void' ELSE kind END AS label FROM orders JOIN events USING (id);
-- columns: public.orders.id > analytics.e3.id | public.events.id > analytics.e3.id | public.orders.amount > analytics.e3.label | public.orders.status > analytics.e3.label | public.events.kind > analytics.e3.label

-- case: simple case
CREATE TABLE analytics.e4 AS SELECT CASE status WHEN 'paid' THEN 1 ELSE 0 END AS is_paid FROM orders;
-- columns: public.orders.status > analytics.e4.is_paid

-- case: aggregate filter clause
CREATE TABLE analytics.e5 AS SELECT customer_id, sum(amount) FILTER (WHERE status = 'paid') AS paid FROM orders GROUP BY customer_id;
-- columns: public.orders.customer_id > analytics.e5.customer_id | public.orders.amount > analytics.e5.paid | public.orders.status > analytics.e5.paid

-- case: string agg with order by
CREATE TABLE analytics.e6 AS SELECT dept_id, string_agg(name, ',' ORDER BY name) AS names FROM employees GROUP BY dept_id;
-- columns: public.employees.dept_id > analytics.e6.dept_id | public.employees.name > analytics.e6.names

-- case: cast syntax variants
CREATE TABLE analytics.e7 AS SELECT CAST(amount AS text) AS a1, amount::int AS a2 FROM orders;
-- columns: public.orders.amount > analytics.e7.a1 | public.orders.amount > analytics.e7.a2

-- case: json operators
CREATE TABLE analytics.e8 AS SELECT id, payload ->> 'user' AS usr FROM events;
-- columns: public.events.id > analytics.e8.id | public.events.payload > analytics.e8.usr

-- case: window with partition
CREATE TABLE analytics.e9 AS SELECT id, sum(amount) OVER (PARTITION BY customer_id) AS cust_total FROM orders;
-- columns: public.orders.id > analytics.e9.id | public.orders.amount > analytics.e9.cust_total | public.orders.customer_id > analytics.e9.cust_total

-- case: extract and interval
CREATE TABLE analytics.e10 AS SELECT extract(year FROM ordered_at) AS yr, ordered_at + interval '1 day' AS next_day FROM orders;
-- columns: public.orders.ordered_at > analytics.e10.yr | public.orders.ordered_at > analytics.e10.next_day

-- case: count star has no column source
CREATE TABLE analytics.e11 AS SELECT status, count(*) AS n FROM orders GROUP BY status;
-- columns: public.orders.status > analytics.e11.status

-- case: concat operator and nullif
CREATE TABLE analytics.e12 AS SELECT nullif(name, '') || '@' || coalesce(email, 'none') AS tag FROM customers;
-- columns: public.customers.name > analytics.e12.tag | public.customers.email > analytics.e12.tag

-- case: distinct on
CREATE TABLE analytics.e13 AS SELECT DISTINCT ON (customer_id) customer_id, amount FROM orders ORDER BY customer_id, ordered_at DESC;
-- columns: public.orders.customer_id > analytics.e13.customer_id | public.orders.amount > analytics.e13.amount

-- case: greatest over columns of two tables
CREATE TABLE analytics.e14 AS SELECT greatest(o.ordered_at, p.paid_at) AS last_touch FROM orders o JOIN payments p ON p.order_id = o.id;
-- columns: public.orders.ordered_at > analytics.e14.last_touch | public.payments.paid_at > analytics.e14.last_touch

-- case: row constructor field access
CREATE TABLE analytics.e15 AS SELECT (t1).a AS ra FROM t1;
-- sources: public.t1

---------------------------------------------------------------- names and resolution
-- case: quoted identifiers keep case
INSERT INTO "Odd Schema"."Mixed Case" ("Id", "Value Col") SELECT id, name FROM depts;
-- sources: public.depts
-- targets: "Odd Schema"."Mixed Case"
-- columns: public.depts.id > "Odd Schema"."Mixed Case"."Id" | public.depts.name > "Odd Schema"."Mixed Case"."Value Col"

-- case: unquoted identifiers fold to lower case
INSERT INTO Analytics.Stage (ID, VAL) SELECT ID, NAME FROM Public.Depts;
-- sources: public.depts
-- targets: analytics.stage
-- columns: public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: unicode identifiers
CREATE TABLE analytics.uni AS SELECT "naïve", "ü" FROM "ünïcode" JOIN "Odd Schema"."Mixed Case" m ON m."Id" = "ünïcode".id;
-- sources: "Odd Schema"."Mixed Case" | public."ünïcode"
-- columns: public."ünïcode"."naïve" > analytics.uni."naïve" | "Odd Schema"."Mixed Case"."ü" > analytics.uni."ü"

-- case: quoted name with spaces in target
CREATE TABLE "Odd Schema"."New Table" AS SELECT "Value Col" FROM "Odd Schema"."Mixed Case";
-- targets: "Odd Schema"."New Table"
-- columns: "Odd Schema"."Mixed Case"."Value Col" > "Odd Schema"."New Table"."Value Col"

-- case: 63 byte name
CREATE TABLE analytics.a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk AS SELECT a FROM t1;
-- targets: analytics.a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk
-- columns: public.t1.a > analytics.a_table_name_that_is_exactly_sixty_three_bytes_long_abcdefghijk.a

-- case: unresolved source makes no edge-worthy name
INSERT INTO analytics.stage (id, val) SELECT id, v FROM missing_table;
-- sources: -
-- targets: analytics.stage
-- unresolved: missing_table
-- columns: -

-- case: unresolved qualified source
INSERT INTO t1 SELECT * FROM nowhere.nothing;
-- unresolved: nowhere.nothing
-- sources: -

-- case: system catalog is not lineage
INSERT INTO analytics.stage (id, val) SELECT oid::int, relname FROM pg_class;
-- sources: -
-- targets: analytics.stage
-- unresolved: -
-- columns: -

-- case: information schema is not lineage
CREATE TABLE analytics.cols AS SELECT table_name, column_name FROM information_schema.columns;
-- sources: -
-- targets: analytics.cols
-- columns: -

-- case: qualified pg_catalog
SELECT * FROM pg_catalog.pg_stat_activity;
-- sources: -
-- unresolved: -

-- case: other database is unresolved
INSERT INTO t1 SELECT a, b, c FROM otherdb.public.t2;
-- sources: -
-- unresolved: otherdb.public.t2

-- case: same database three part name resolves
INSERT INTO t1 SELECT a, b, c FROM shop.public.t2;
-- sources: public.t2
-- columns: public.t2.a > public.t1.a | public.t2.b > public.t1.b | public.t2.c > public.t1.c

-- case: no catalog keeps names as written, and matches INSERT columns by output name, flagged
INSERT INTO stage SELECT id, name FROM customers;
-- no catalog
-- sources: customers
-- targets: stage
-- columns: customers.id > stage.id | customers.name > stage.name
-- assumed: stage

-- case: no catalog INSERT with an output alias maps by the alias, flagged
INSERT INTO mart.ltv SELECT c.id AS customer_id, sum(o.amount) AS ltv FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
-- no catalog
-- columns: customers.id > mart.ltv.customer_id | orders.amount > mart.ltv.ltv
-- assumed: mart.ltv

-- case: no catalog INSERT with a column list is positional, not assumed
INSERT INTO stage (k, v) SELECT id, name FROM customers;
-- no catalog
-- columns: customers.id > stage.k | customers.name > stage.v
-- assumed: -

-- case: with a catalog an INSERT is positional, not assumed
INSERT INTO t1 SELECT a AS zzz, b, c FROM t2;
-- columns: public.t2.a > public.t1.a | public.t2.b > public.t1.b | public.t2.c > public.t1.c
-- assumed: -

-- case: no catalog qualified
INSERT INTO a.stage (k) SELECT c.id FROM b.customers c;
-- no catalog
-- sources: b.customers
-- targets: a.stage
-- columns: b.customers.id > a.stage.k

-- case: no catalog unqualified column with one table
CREATE TABLE x AS SELECT id, name FROM y;
-- no catalog
-- columns: y.id > x.id | y.name > x.name

-- case: ambiguous column is not guessed
CREATE TABLE analytics.amb AS SELECT name FROM customers, depts;
-- columns: public.customers.name > analytics.amb.name | public.depts.name > analytics.amb.name

-- case: column not in any table is not attributed
CREATE TABLE analytics.na AS SELECT no_such_col FROM customers;
-- columns: -

---------------------------------------------------------------- normalized query text
-- case: parameters in where
SELECT name FROM customers WHERE id = $1 AND email LIKE $2;
-- sources: public.customers

-- case: parameters in insert values
INSERT INTO orders (id, customer_id, amount, status, ordered_at) VALUES ($1, $2, $3, $4, $5);
-- sources: -
-- targets: public.orders
-- columns: -

-- case: parameters in limit and in list
SELECT id FROM events WHERE kind IN ($1, $2, $3) ORDER BY at DESC LIMIT $4;
-- sources: public.events

-- case: parameter with cast
UPDATE customers SET email = $1::text WHERE id = $2::int;
-- targets: public.customers
-- columns: -

-- case: parameters in insert select
INSERT INTO analytics.stage (id, val) SELECT id, name FROM depts WHERE id > $1;
-- columns: public.depts.id > analytics.stage.id | public.depts.name > analytics.stage.val

-- case: parameter in interval arithmetic
DELETE FROM events WHERE at < now() - $1::interval;
-- targets: public.events

---------------------------------------------------------------- sessions and temp tables
-- case: temp table through two statements
CREATE TEMP TABLE tt AS SELECT id, amount FROM orders;
INSERT INTO analytics.stage (id, val) SELECT id, amount FROM tt;
-- sources: public.orders
-- targets: analytics.stage
-- columns: public.orders.id > analytics.stage.id | public.orders.amount > analytics.stage.val

-- case: temp table with pg_temp qualifier
CREATE TABLE pg_temp.tt2 AS SELECT x, y FROM t3;
INSERT INTO t1 (a, b) SELECT x, y FROM pg_temp.tt2;
-- sources: public.t3
-- targets: public.t1
-- columns: public.t3.x > public.t1.a | public.t3.y > public.t1.b

-- case: temp table filled by insert is not a target
CREATE TEMP TABLE buf (id int, v text);
INSERT INTO buf SELECT id, name FROM depts;
-- targets: -
-- sources: public.depts

-- case: temp table chain of two
CREATE TEMP TABLE s1 AS SELECT a, b FROM t1;
CREATE TEMP TABLE s2 AS SELECT a AS k FROM s1;
INSERT INTO t3 (x) SELECT k FROM s2;
-- sources: public.t1
-- targets: public.t3
-- columns: public.t1.a > public.t3.x

-- case: temp table unknown outside session is unresolved
INSERT INTO t1 SELECT * FROM some_temp;
-- unresolved: some_temp
-- columns: -

---------------------------------------------------------------- renames and other statements
-- case: alter table rename
ALTER TABLE analytics.customers__dbt_tmp RENAME TO customers;
-- kind: ALTER_TABLE
-- renames: analytics.customers__dbt_tmp > analytics.customers
-- sources: -
-- targets: -

-- case: dbt style create then rename
create table "shop"."analytics"."ltv__dbt_tmp" as (select customer_id, sum(amount) as ltv from "shop"."public"."orders" group by 1);
alter table "shop"."analytics"."ltv__dbt_tmp" rename to "ltv";
-- sources: public.orders
-- targets: analytics.ltv__dbt_tmp
-- renames: analytics.ltv__dbt_tmp > analytics.ltv
-- columns: public.orders.customer_id > analytics.ltv__dbt_tmp.customer_id | public.orders.amount > analytics.ltv__dbt_tmp.ltv

-- case: dbt view with comment header
/* {"app": "dbt", "node_id": "model.x.stg"} */
create view "shop"."analytics"."stg__dbt_tmp" as (select id as customer_id, name from "shop"."public"."customers");
-- targets: analytics.stg__dbt_tmp
-- columns: public.customers.id > analytics.stg__dbt_tmp.customer_id | public.customers.name > analytics.stg__dbt_tmp.name

-- case: unqualified rename resolves schema through search path
ALTER TABLE t1 RENAME TO t1_old;
-- renames: public.t1 > public.t1_old

-- case: drop table has no lineage
DROP TABLE analytics.stage;
-- kind: OTHER
-- sources: -
-- targets: -

-- case: set statement has no lineage
SET search_path = analytics, public;
-- sources: -
-- targets: -

-- case: copy has no table lineage
COPY orders FROM STDIN;
-- sources: -
-- targets: -

-- case: begin commit
BEGIN;
COMMIT;
-- sources: -
-- targets: -

---------------------------------------------------------------- errors
-- case: garbage is an error
SELEKT * FROM t1;
-- error

-- case: unterminated string is an error
SELECT 'abc FROM t1;
-- error

-- case: good statement after a bad one still counts
INSERT INTO (;
INSERT INTO t2 SELECT * FROM t1;
-- error
-- sources: public.t1
-- targets: public.t2

-- case: empty input
-- sources: -
-- targets: -
