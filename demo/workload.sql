-- Statements `make demo` runs after the schema changes, so usage and query lineage have
-- something to show: reads, a join, an ETL statement and a procedure call.
SELECT title, list_price FROM catalog.books WHERE format = 'paperback';
SELECT title, list_price FROM catalog.books WHERE format = 'ebook';
SELECT b.title, a.name FROM catalog.books b JOIN catalog.authors a ON a.author_id = b.author_id;
SELECT b.title, a.name FROM catalog.books b JOIN catalog.authors a ON a.author_id = b.author_id;
SELECT * FROM reporting.book_sales ORDER BY revenue DESC;
CREATE TABLE reporting.top_books AS
    SELECT book_id, title, revenue FROM reporting.book_sales ORDER BY revenue DESC LIMIT 10;
INSERT INTO sales.shoppers (email, display_name) SELECT 'reader' || n || '@example.org', 'Reader ' || n FROM generate_series(1, 3) n;
CALL reporting.load_author_revenue();
