"""The ``support`` sample workload: a store's support assistant answering customers in a few sentences.

A ``generic`` workload (free-text answers), so it is scored by the LLM judge (``similarity``): the sample
workload on which the judge is checked before it is believed. Six topics (shipping, returns, warranty,
payment, cancellation, account) with varied questions and answers that carry the case's specifics
(product, order id, days, fees), so two answers of different rows are clearly different.
"""

from __future__ import annotations

import random
from itertools import accumulate

from flywheel.sampledata.records import TEACHER, LogRecord, Request, envelope

PRODUCTS = [
    "Jetson Orin Nano developer kit",
    "RTX 5090 Founders Edition",
    "Shield TV Pro",
    "DGX Spark",
    "noise-cancelling headset",
    "mechanical keyboard",
    "4K gaming monitor",
    "wireless mouse",
    "laptop sleeve",
    "GeForce hoodie",
]
REGIONS = ["the United States", "Canada", "Germany", "France", "the United Kingdom", "Japan", "Australia"]
SYSTEM = (
    "You are the support assistant of an online electronics store. Answer the customer in two or three "
    "sentences, following the store's policies exactly."
)
PREFIXES = ["", "Hi, ", "Hello! ", "Quick question: ", "hey, ", "Good morning. "]
TOPICS, TOPIC_WEIGHTS = (
    ["shipping", "returns", "warranty", "payment", "cancellation", "account"],
    list(accumulate([26, 22, 16, 12, 14, 10])),
)
QUESTIONS = {  # every question names an order, or a product and where the customer is: few repeat
    "shipping": [
        "How long does shipping of the {product} to {region} take?",
        "what does delivery to {region} cost for the {product}?",
        "Do you ship the {product} to {region}, and how fast?",
        "I'm in {region}: when would a {product} ordered today arrive?",
    ],
    "returns": [
        "Can I return the {product} from order {order}?",
        "how do I send back my {product}? order {order}",
        "I changed my mind about the {product} (order {order}), can I get a refund?",
    ],
    "warranty": [
        "What warranty does the {product} have? I bought it in {region}.",
        "my {product} from order {order} stopped working, is it still under warranty?",
        "How do I make a warranty claim for the {product} from order {order}?",
    ],
    "payment": [
        "Which payment methods do you accept for the {product} in {region}?",
        "can I pay for the {product} in installments? I'm ordering from {region}",
        "When is my card charged for the {product} in order {order}?",
    ],
    "cancellation": [
        "Can I still cancel order {order}?",
        "please cancel order {order}, I ordered the wrong {product}",
        "how do I cancel {order} and when do I get my money back?",
    ],
    "account": [
        "I forgot my password and can't see order {order}, how do I reset it?",
        "How can I change the email address on the account I used for order {order}?",
        "how do I delete my account? my last order was {order}",
    ],
}


def _answer(topic: str, rng: random.Random, product: str, order: str, region: str) -> str:
    if topic == "shipping":
        low = rng.randint(2, 6)
        return (
            f"Standard shipping to {region} takes {low} to {low + rng.randint(2, 4)} business "
            f"days and costs ${rng.randint(5, 25)}. Express delivery arrives within {rng.randint(1, 2)} days for "
            f"${rng.randint(30, 60)}."
        )
    if topic == "returns":
        days = rng.choice([14, 30, 45])
        return (
            f"Yes, the {product} from order {order} can be returned within {days} days of delivery for a full "
            "refund. Start the return on the order page, print the prepaid label and drop the parcel at any "
            "carrier point."
        )
    if topic == "warranty":
        years = rng.choice([1, 2, 3])
        return (
            f"The {product} has a {years}-year limited warranty against manufacturing defects. For a claim, send "
            "us the serial number and a short description of the fault, and we replace or repair it free of charge."
        )
    if topic == "payment":
        over, parts = rng.choice([300, 500, 800]), rng.choice([3, 4, 6])
        return (
            "We accept Visa, Mastercard, American Express and PayPal, and your card is charged when the "
            f"{product} ships. Orders over ${over} can be split into {parts} interest-free installments."
        )
    if topic == "cancellation":
        days = rng.randint(3, 7)
        return (
            f"Order {order} can be cancelled as long as it has not shipped: open Orders, select it and choose "
            f"Cancel. The refund reaches your original payment method within {days} business days."
        )
    choice = rng.randint(0, 2)
    if choice == 0:
        return (
            "Open the sign-in page, choose Forgot password and follow the link we email you; it stays valid for "
            f"{rng.choice([15, 30, 60])} minutes."
        )
    if choice == 1:
        return (
            "Go to Account settings, choose Email and enter the new address; we send a confirmation link to it "
            "and the change takes effect once you click it."
        )
    return (
        "Go to Account settings, choose Delete account and confirm with your password. Your order history is "
        f"kept for {rng.choice([30, 90])} days for invoices, then erased."
    )


def support_record(rng: random.Random, i: int) -> LogRecord:
    topic = rng.choices(TOPICS, cum_weights=TOPIC_WEIGHTS)[0]
    product, region = rng.choice(PRODUCTS), rng.choice(REGIONS)
    order = f"ORD-{rng.randint(100000, 999999)}"
    question = rng.choice(PREFIXES) + rng.choice(QUESTIONS[topic]).format(product=product, order=order, region=region)
    request: Request = {
        "model": TEACHER,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "temperature": 0.2,
    }
    answer = _answer(topic, rng, product, order, region)
    return envelope(rng, i, request, {"role": "assistant", "content": answer}, "stop")
