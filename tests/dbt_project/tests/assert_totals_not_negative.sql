-- Singular test: no customer can have a negative total.
select *
from {{ ref('customer_totals') }}
where total_amount < 0
