-- Revenue per day from the clean orders; the newest day first (its row becomes task values).
create or replace table daily_revenue as
select day, count(*) as orders, round(sum(amount), 2) as revenue
from clean_orders
group by day;

select day, orders, revenue from daily_revenue order by day desc;
