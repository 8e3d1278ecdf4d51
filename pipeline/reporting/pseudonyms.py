"""Display names for the public site: the student's chosen name, else a stable generated pseudonym.

A generated pseudonym is an HMAC-SHA256 of the submission id, keyed by the site key
(GRADEBENCH_SITE_KEY, else the key `report` keeps in .gradebench/site-key), so no one who knows
the class list can work out who is behind a pseudonym. Only a caller that passes no key (a site
built without feedback pages) gets names keyed by a fixed salt: stable, but they only obscure the ids.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional

# Used only when a build is given no site key (it then warns that feedback pages are skipped).
FIXED_SALT = b"gradebench-site-pseudonyms-v1"

ADJECTIVES = (
    "Agile", "Amber", "Ancient", "Azure", "Bold", "Brave", "Bright", "Calm", "Clever", "Cobalt",
    "Coral", "Cosmic", "Crimson", "Curious", "Daring", "Dusky", "Eager", "Electric", "Emerald",
    "Fearless", "Fleet", "Gentle", "Golden", "Grand", "Happy", "Hidden", "Honest", "Humble", "Indigo",
    "Jade", "Jolly", "Keen", "Kind", "Lively", "Lucky", "Lunar", "Mellow", "Merry", "Mighty", "Misty",
    "Nimble", "Noble", "Ochre", "Patient", "Polar", "Proud", "Quick", "Quiet", "Rapid", "Royal",
    "Rustic", "Sage", "Scarlet", "Silent", "Silver", "Solar", "Steady", "Stellar", "Swift", "Tidy",
    "Vivid", "Wise", "Witty", "Zesty",
)
ANIMALS = (
    "Albatross", "Antelope", "Badger", "Beaver", "Bison", "Capybara", "Caracal", "Cheetah", "Condor",
    "Coyote", "Crane", "Dolphin", "Dormouse", "Eagle", "Egret", "Falcon", "Ferret", "Finch", "Fox",
    "Gazelle", "Gecko", "Gibbon", "Heron", "Hedgehog", "Ibex", "Ibis", "Jackal", "Jaguar", "Kestrel",
    "Kingfisher", "Koala", "Lemur", "Leopard", "Lynx", "Magpie", "Marmot", "Meerkat", "Mongoose",
    "Narwhal", "Newt", "Ocelot", "Okapi", "Osprey", "Otter", "Owl", "Panda", "Pangolin", "Pelican",
    "Penguin", "Puffin", "Quail", "Quokka", "Raven", "Salamander", "Seal", "Sparrow", "Stoat",
    "Swift", "Tapir", "Toucan", "Walrus", "Wombat", "Wren", "Yak",
)


def keyed_digest(key: Optional[bytes], purpose: str, submission_id: str) -> bytes:
    """HMAC-SHA256 of the id for one purpose (pseudonym, feedback path), so the two never coincide."""
    message = f"{purpose}\0{submission_id}".encode("utf-8")
    return hmac.new(key or FIXED_SALT, message, hashlib.sha256).digest()


def generated(submission_id: str, key: Optional[bytes]) -> str:
    """A stable pseudonym such as "Swift Otter 42" (409,600 possible names)."""
    digest = keyed_digest(key, "pseudonym", submission_id)
    number = int.from_bytes(digest[2:4], "big") % 100
    return f"{ADJECTIVES[digest[0] % len(ADJECTIVES)]} {ANIMALS[digest[1] % len(ANIMALS)]} {number:02d}"


def display_names(submission_ids: list[str], chosen: dict[str, Optional[str]], key: Optional[bytes],
                  shown_as_is: set[str] = frozenset()) -> dict[str, str]:
    """One distinct display name per id: the id itself for `shown_as_is` (baselines, or every id
    when site.show_ids), else the chosen display_name, else a generated pseudonym. Clashes get
    " (2)", " (3)", ... in id order, so the names stay stable and unambiguous."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for submission_id in sorted(submission_ids):
        if submission_id in shown_as_is:
            base = submission_id
        else:
            base = (chosen.get(submission_id) or "").strip() or generated(submission_id, key)
        name, suffix = base, 2
        while name.casefold() in taken:
            name, suffix = f"{base} ({suffix})", suffix + 1
        taken.add(name.casefold())
        names[submission_id] = name
    return names
