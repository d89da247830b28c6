"""Parse the text of the ``/usage`` slash command into a typed :class:`UsageRequest`.

Pure: today's date is passed in. Examples (in errors and :data:`USAGE_FORMS`) are command text
without the ``/usage`` prefix, which the renderer adds: the command's name differs per workspace.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from bot.browserstack.models import Product, ReportFilters
from bot.digest.rules import DEFAULT_IDLE_DAYS
from bot.reports.question import (
    DEFAULT_TOP,
    Question,
    Source,
    Verb,
    day_count,
    day_text,
    last_days_label,
    range_label,
    range_text,
)

__all__ = [
    "USAGE_FORMS",
    "CommandError",
    "Period",
    "UsageForm",
    "UsageRequest",
    "Verb",
    "parse_command",
    "usage_forms",
]

DEFAULT_DAYS = 14  # BrowserStack's own default when a report has no dates
MAX_DAYS = 366  # days counted, both ends included
# Verbs whose answer is one message: no details to put in a thread.
_NO_DETAILS = (Verb.USER, Verb.ME)
MAX_TOP = 50
# Slack caps a slash command's text far below this; longer text is not a question, so it is
# refused before any parsing.
MAX_TEXT = 4000
_ECHO_LIMIT = 100
_EXAMPLES = {
    Verb.HELP: "help",
    Verb.TEAM: "team Mobile QA",
    Verb.TEAMS: "teams",
    Verb.USER: "user ana@example.com",
    Verb.ME: "me",
    Verb.IDLE: "idle automate",
    Verb.TOP: "top automate 5",
    Verb.DIGEST: "digest",
}


class CommandError(ValueError):
    """A sentence saying what is wrong, and an example that would work."""

    def __init__(self, problem: str, *, example: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.example = example


@dataclass(frozen=True, slots=True)
class Period:
    """The dates a request covers, with a label for people."""

    start: date
    end: date
    label: str
    # The command words that ask for this period ("last 7d"), so describe() can say it back.
    text: str = ""

    @classmethod
    def last_days(cls, days: int, *, today: date) -> Period:
        """The last ``days`` days up to today, today included: BrowserStack counts both ends, so
        the last 14 days start 13 days ago."""
        start = today - timedelta(days=days - 1)
        return cls(start, today, last_days_label(start, today), f"last {days}d")

    @property
    def words(self) -> str:
        """Command words for this period; explicit dates for a period built by hand."""
        return self.text or f"{self.start.isoformat()}..{self.end.isoformat()}"

    def filters(self, product: Product | None) -> ReportFilters:
        return ReportFilters(start=self.start, end=self.end, product=product)


@dataclass(frozen=True, slots=True)
class UsageRequest:
    """What someone asked ``/usage`` for."""

    verb: Verb
    period: Period
    product: Product | None = None
    target: str | None = None
    target_user_id: str | None = None
    count: int = DEFAULT_TOP
    thread: bool = False
    public: bool = False

    @property
    def filters(self) -> ReportFilters:
        return self.period.filters(self.product)

    def question(self, *, source: Source) -> Question:
        """The request as it is stored with the pending request (help is never stored)."""
        return Question(
            verb=self.verb,
            start=self.period.start,
            end=self.period.end,
            period_label=self.period.label,
            describe=self.describe(),
            source=source,
            target=self.target,
            target_user_id=self.target_user_id,
            product=self.product,
            count=self.count,
            thread=self.thread,
            public=self.public,
        )

    def describe(self) -> str:
        """Canonical command text, e.g. ``team Acme last 7d public``, that parses back to self."""
        parts = [self.verb.value]
        if self.verb is Verb.TEAM and self.target:
            parts.append(_team_words(self.target, today=self.period.end))
        elif self.verb is Verb.USER:
            parts.append(f"<@{self.target_user_id}>" if self.target_user_id else self.target or "")
        if self.product:
            parts.append(self.product.filter_value.lower())
        if self.verb is Verb.TOP and self.count != DEFAULT_TOP:
            parts.append(str(self.count))
        # The digest's period is IDLE_DAYS, never asked for; idle's default is IDLE_DAYS too,
        # which this text does not know, so its period is always written out.
        if self.verb is Verb.IDLE or (
            self.verb is not Verb.DIGEST and self.period.text != f"last {DEFAULT_DAYS}d"
        ):
            parts.append(self.period.words)
        parts += [flag for flag, on in (("thread", self.thread), ("public", self.public)) if on]
        return " ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class UsageForm:
    """One row of the help message."""

    syntax: str
    example: str
    explanation: str


SUBSCRIPTION_FORMS = (
    UsageForm(
        "subscribe team <name> weekly [#channel]",
        "subscribe team Mobile QA weekly",
        "That team's report every Monday, in a channel or your DMs.",
    ),
    UsageForm(
        "subscribe teams monthly [#channel]",
        "subscribe teams monthly",
        "Every team, on the 1st (a channel: seat admins only).",
    ),
    UsageForm("subscribe me weekly", "subscribe me weekly", "Your own usage, in your DMs."),
    UsageForm("subscriptions", "subscriptions", "Your subscriptions, numbered."),
    UsageForm("unsubscribe <n>", "unsubscribe 2", "Stop subscription number n."),
)


def parse_reclaim(text: str) -> str | None:
    """``reclaim`` (or ``reclaim status``): "status"; ``reclaim ask``: "ask"; None for any other
    command. CommandError for ``reclaim`` followed by anything else."""
    words = [word.casefold() for word in text.split()]
    if words[:1] != ["reclaim"]:
        return None
    if words[1:] in ([], ["status"]):
        return "status"
    if words[1:] == ["ask"]:
        return "ask"
    raise CommandError(
        f"`reclaim` takes `ask` or nothing, not `{_shown(' '.join(text.split()[1:]))}`.",
        example="reclaim ask",
    )


# Answered by parse_reclaim before the parser, listed here for help.
RECLAIM_FORMS = (
    UsageForm("reclaim", "reclaim", "Seat admins: the current reclaim campaign."),
    UsageForm("reclaim ask", "reclaim ask", "Seat admins: ask the members holding idle seats."),
)


def usage_forms(*, idle_days: int = DEFAULT_IDLE_DAYS) -> tuple[UsageForm, ...]:
    """The help message's rows; ``idle_days`` is IDLE_DAYS, the default of ``idle``."""
    return (
        UsageForm("help", "help", "Show this list."),
        UsageForm("team <name>", _EXAMPLES[Verb.TEAM], "One team's usage, product by product."),
        UsageForm("teams", "teams last month", "Every team's usage side by side."),
        UsageForm("user <email or @mention>", _EXAMPLES[Verb.USER], "One person's usage."),
        UsageForm("me", "me this month", "Your own usage."),
        UsageForm(
            "idle [product]",
            _EXAMPLES[Verb.IDLE],
            f"People with access who ran no tests. Without a period: the last {idle_days} days,"
            " as in the weekly digest.",
        ),
        UsageForm(
            "top [product] [n]",
            _EXAMPLES[Verb.TOP],
            f"The heaviest users: {DEFAULT_TOP} unless you give a number up to {MAX_TOP}.",
        ),
        UsageForm(
            "digest", "digest", f"Preview this week's digest: always the last {idle_days} days."
        ),
        UsageForm(
            "last <N>d",
            "teams last 30d",
            f"The last N days, today included, up to {MAX_DAYS}."
            f" Without a period: the last {DEFAULT_DAYS} days (`idle`: {idle_days}).",
        ),
        UsageForm("this month", "top this month", "From the 1st of this month to today."),
        UsageForm("last month", "teams last month", "The whole of last month."),
        UsageForm(
            "since <YYYY-MM-DD>", "me since 2026-10-01", "From that date to today, both included."
        ),
        UsageForm(
            "<YYYY-MM-DD>..<YYYY-MM-DD>",
            "teams 2026-01-01..2026-03-31",
            "From one date to another, both included.",
        ),
        UsageForm(
            "live | automate | app-live | app-automate", "top app-live", "Only that product."
        ),
        UsageForm(
            "thread",
            "team Mobile QA thread",
            "Put the details in a thread reply (not with `user` or `me`: they have none).",
        ),
        UsageForm("public", "teams public", "Post in the channel, not only to you."),
        UsageForm(
            '"<name>"', 'team "App Live QA" last month', "Quote a name with option words in it."
        ),
        *SUBSCRIPTION_FORMS,
        *RECLAIM_FORMS,
    )


USAGE_FORMS = usage_forms()


class _Token(NamedTuple):
    text: str
    literal: bool = False  # quoted or a Slack link: part of a name, never an option word


_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_ENTITY = re.compile("&(?:amp|lt|gt);")
_TOKEN = re.compile(r'["“”](?P<quoted>[^"“”]*)["“”]?|(?P<angle><[^<>]*>)|\S+')
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
# Slack links emails, and domains such as a team called "acme.io", when it escapes the command.
_LINK = re.compile(r"<(mailto:|https?://)([^|>]*)(?:\|([^>]*))?>", re.IGNORECASE)
# Domain labels exclude the dot that separates them, so a long string that is almost an email
# is rejected in one pass: "[^@]+\.[^@]+" would try every dot position (quadratic).
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>.]+(?:\.[^@\s<>.]+)+")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAYS = re.compile(r"(\d+)(d|days?)?")
_DAY_UNITS = ("d", "day", "days")
_OTHER_UNITS = ("week", "weeks", "year", "years", "quarter", "day", "days")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _tokenize(text: str) -> list[_Token]:
    # One pass, so "&amp;lt;" becomes "&lt;" and not "<".
    text = _ENTITY.sub(lambda m: _ENTITIES[m[0]], text)
    tokens = []
    for match in _TOKEN.finditer(text):
        if match["quoted"] is not None:
            tokens.append(_Token(" ".join(match["quoted"].split()), literal=True))
        elif match["angle"] and not _MENTION.fullmatch(match["angle"]):
            link = _LINK.fullmatch(match["angle"])
            if link is None:
                tokens.append(_Token(" ".join(match["angle"].split()), literal=True))
            elif link[1].lower() == "mailto:":
                tokens.append(_Token(link[2], literal=True))
            else:
                tokens.append(_Token(link[3] or link[1] + link[2], literal=True))
        else:
            tokens.append(_Token(match[0], literal=bool(match["angle"])))
    return tokens


def _shown(text: str) -> str:
    """User input fit to echo inside backticks: no backticks, at most ~100 characters."""
    text = text.replace("`", "'")
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"


def _number(digits: str) -> int:
    # int() refuses strings past 4300 digits; anything past nine is out of range anyway.
    return int(digits) if len(digits.lstrip("+-")) <= 9 else 10**9


_day = day_text


def _month(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


def date_problem(year: int, month: int, day: int) -> str | None:
    """Why ``year-month-day`` is no date (``month 13 does not exist``); None when it is one."""
    if not 1 <= month <= 12:
        return f"month {month} does not exist"
    if day < 1:
        return f"day {day} does not exist"
    try:
        date(year, month, day)
    except ValueError:
        after = date(year + month // 12, month % 12 + 1, 1)
        last = (after - timedelta(days=1)).day
        return f"{_MONTHS[month - 1]} {year} has {last} days"
    return None


@dataclass(slots=True)
class _Options:
    """What the words after the verb asked for; ``rest`` is every word that is no option."""

    period: Period | None = None
    period_words: str = ""
    product: Product | None = None
    product_words: str = ""
    count: int | None = None
    thread: bool = False
    public: bool = False
    rest: list[_Token] = field(default_factory=list)


class _Scanner:
    """Walks the words after the verb, taking options out wherever they stand."""

    def __init__(self, tokens: list[_Token], *, verb: Verb, today: date) -> None:
        self.tokens = tokens
        # Literal tokens become "", which matches no option word.
        self.words = [("" if t.literal else t.text.casefold()) for t in tokens]
        self.verb = verb
        self.today = today
        # The verb and its name, to which an example adds the one option it shows.
        self.example = _EXAMPLES[verb] if verb in (Verb.TEAM, Verb.USER) else verb.value

    def scan(self) -> _Options:
        options = _Options()
        i = 0
        while i < len(self.tokens):
            i += self._take(options, i)
        return options

    def _word(self, i: int) -> str:
        return self.words[i] if i < len(self.words) else ""

    def _take(self, options: _Options, i: int) -> int:
        """Record the option at ``i`` (or a plain word) and return how many tokens it used."""
        word = self.words[i]
        if found := self._period(i):
            period, used = found
            words = " ".join(t.text for t in self.tokens[i : i + used])
            if options.period:
                raise CommandError(
                    f"Give one period, not both `{_shown(options.period_words)}` and "
                    f"`{_shown(words)}`.",
                    example=f"{self.example} last 30d",
                )
            options.period, options.period_words = period, words
            return used
        if product_found := self._product(i):
            product, used = product_found
            words = " ".join(t.text for t in self.tokens[i : i + used])
            if options.product:
                raise CommandError(
                    f"Give one product, not both `{_shown(options.product_words)}` and "
                    f"`{_shown(words)}`.",
                    example=f"{self.example} live",
                )
            options.product, options.product_words = product, words
            return used
        if word in ("thread", "public"):
            setattr(options, word, True)
            return 1
        if self.verb is Verb.TOP and re.fullmatch(r"[+-]?\d+", word):
            if options.count is not None:
                raise CommandError(
                    f"Give `top` one number, not `{options.count}` and `{_shown(word)}`.",
                    example=_EXAMPLES[Verb.TOP],
                )
            if not 1 <= _number(word) <= MAX_TOP:
                raise CommandError(
                    f"`top` takes a number from 1 to {MAX_TOP}, not `{_shown(word)}`.",
                    example=_EXAMPLES[Verb.TOP],
                )
            options.count = _number(word)
            return 1
        options.rest.append(self.tokens[i])
        return 1

    def _product(self, i: int) -> tuple[Product, int] | None:
        # Longest first, so "app live" is one product and not a stray "app" then Live.
        for used in (3, 2, 1):
            words = self.words[i : i + used]
            if len(words) == used and all(words):
                try:
                    return Product.parse(" ".join(words)), used
                except ValueError:
                    pass
        return None

    def _period(self, i: int) -> tuple[Period, int] | None:
        word, following = self._word(i), self._word(i + 1)
        today = self.today
        if word == "this" and following == "month":
            month_start = today.replace(day=1)
            label = f"{_month(today)} so far ({range_text(month_start, today)})"
            return Period(month_start, today, label, "this month"), 2
        if word == "last" and following == "month":
            end = today.replace(day=1) - timedelta(days=1)
            return Period(end.replace(day=1), end, _month(end), "last month"), 2
        if word == "last" and (days := _DAYS.fullmatch(following)):
            if not 1 <= _number(days[1]) <= MAX_DAYS:
                asked = _shown(f"last {days[1]}d")
                raise CommandError(
                    f"`{asked}` is out of range: choose from 1 to {MAX_DAYS} days.",
                    example=f"{self.example} last 30d",
                )
            used = 2
            if days[2] is None:
                if self._word(i + 2) not in _DAY_UNITS:
                    raise CommandError(
                        f"Say `last {days[1]}d` for the last {days[1]} days.",
                        example=f"{self.example} last {days[1]}d",
                    )
                used = 3
            return Period.last_days(int(days[1]), today=today), used
        if word in ("last", "this") and following in _OTHER_UNITS:
            raise CommandError(
                f"`{word} {following}` is not a period I know.",
                example=f"{self.example} last 7d",
            )
        if word == "since" and following[:1].isdigit():
            return self._dated(self._date(following), today, since=True), 2
        if word[:1].isdigit() and ".." in word:
            first, _, last = word.partition("..")
            return self._dated(self._date(first), self._date(last), since=False), 1
        return None

    def _date(self, text: str) -> date:
        example = f"{self.example} since {self.today.replace(day=1).isoformat()}"
        if match := _DATE.fullmatch(text):
            year, month, day = int(match[1]), int(match[2]), int(match[3])
            problem = date_problem(year, month, day)
            if problem is None:
                return date(year, month, day)
            raise CommandError(f"`{_shown(text)}` is not a date: {problem}.", example=example)
        raise CommandError(
            f"`{_shown(text)}` is not a date: write dates as YYYY-MM-DD.", example=example
        )

    def _dated(self, start: date, end: date, *, since: bool) -> Period:
        today = self.today
        if start > today:
            raise CommandError(
                f"The period starts on {_day(start)}, which is in the future.",
                example=f"{self.example} since {today.replace(day=1).isoformat()}",
            )
        if end < start:
            # Most likely the dates were swapped: suggest them the other way round when that works.
            fixed = f"{end.isoformat()}..{start.isoformat()}"
            raise CommandError(
                f"The period ends on {_day(end)}, before it starts on {_day(start)}.",
                example=f"{self.example} {fixed if (start - end).days <= MAX_DAYS else 'last 30d'}",
            )
        # Nothing has happened after today: "until the end of the month" means "so far".
        end = min(end, today)
        if (days := day_count(start, end)) > MAX_DAYS:
            raise CommandError(
                f"That period is {days} days long; the longest is {MAX_DAYS} days.",
                example=f"{self.example} last {MAX_DAYS}d",
            )
        # "since 1 Oct 2026" reads wrong after "in"; the dates and their count read right
        # everywhere a label goes ("2 with no activity in 1 Oct – 25 Nov 2026 (56 days)").
        words = f"since {start.isoformat()}" if since else f"{start.isoformat()}..{end.isoformat()}"
        return Period(start, end, range_label(start, end), words)


def _verb(word: str) -> Verb:
    try:
        return Verb(word.casefold())
    except ValueError:
        pass
    close = difflib.get_close_matches(word.casefold(), list(Verb), n=1, cutoff=0.6)
    if close:
        verb = Verb(close[0])
        raise CommandError(
            f"Unknown command `{_shown(word)}`. Did you mean `{verb}`?", example=_EXAMPLES[verb]
        ) from None
    names = ", ".join(f"`{v}`" for v in list(Verb)[:-1])
    raise CommandError(
        f"Unknown command `{_shown(word)}`. The commands are {names} and `{Verb.DIGEST}`.",
        example="help",
    ) from None


def _target(verb: Verb, options: _Options) -> tuple[str | None, str | None]:
    """The team name or email, and the mentioned user's id, from the words left over."""
    words = [token.text for token in options.rest if token.text]
    if verb is Verb.TEAM:
        if not words:
            hint = ""
            if options.period or options.product or options.thread or options.public:
                hint = ' Quote a name that is also an option word, like `team "Live"`.'
            raise CommandError(f"`team` needs a team name.{hint}", example=_EXAMPLES[verb])
        return " ".join(words), None
    if verb is Verb.USER:
        if not words:
            raise CommandError(
                "`user` needs an email address or an @mention.", example=_EXAMPLES[verb]
            )
        if len(words) == 1 and (mention := _MENTION.fullmatch(words[0])):
            return None, mention[1]
        if len(words) == 1 and _EMAIL.fullmatch(words[0]):
            return words[0], None
        raise CommandError(
            f"`{_shown(' '.join(words))}` is not an email address or an @mention.",
            example=_EXAMPLES[verb],
        )
    if words:
        raise CommandError(
            f"`{verb}` does not take `{_shown(' '.join(words))}`.", example=_EXAMPLES[verb]
        )
    return None, None


def _team_words(name: str, *, today: date) -> str:
    """The name as describe() writes it: quoted when read bare it would not come back whole."""
    try:
        options = _Scanner(_tokenize(name), verb=Verb.TEAM, today=today).scan()
    except CommandError:
        return f'"{name}"'
    bare = " ".join(token.text for token in options.rest) == name
    plain = bare and options == _Options(rest=options.rest)
    return name if plain else f'"{name}"'


def parse_command(text: str, *, today: date, idle_days: int = DEFAULT_IDLE_DAYS) -> UsageRequest:
    """Read ``/usage`` command text; raise CommandError, with an example, when it makes no sense.

    ``idle_days`` (IDLE_DAYS) is the period of ``idle`` and ``digest`` when none is given, so that
    ``/usage idle`` and the weekly digest count the same days.
    """
    if len(text) > MAX_TEXT:
        raise CommandError(
            f"That is {len(text):,} characters long; a question fits in {MAX_TEXT:,}.",
            example="help",
        )
    default = Period.last_days(DEFAULT_DAYS, today=today)
    tokens = _tokenize(text)
    if not tokens:
        return UsageRequest(Verb.HELP, default)
    verb = _verb(tokens[0].text)
    if verb is Verb.HELP:
        # Whatever follows "help" (often the command someone wants help with), help is the answer.
        return UsageRequest(Verb.HELP, default)
    options = _Scanner(tokens[1:], verb=verb, today=today).scan()
    target, user_id = _target(verb, options)
    if options.thread and verb in _NO_DETAILS:
        raise CommandError(
            f"`{verb}` answers in one message, with no details to put in a thread:"
            " leave `thread` out.",
            example=_EXAMPLES[verb],
        )
    if verb is Verb.DIGEST and options.period:
        raise CommandError(
            f"The digest always covers the last {idle_days} days (IDLE_DAYS), as the posted"
            f" one does: leave `{_shown(options.period_words)}` out.",
            example=_EXAMPLES[verb],
        )
    if verb in (Verb.IDLE, Verb.DIGEST):
        default = Period.last_days(idle_days, today=today)
    return UsageRequest(
        verb=verb,
        period=options.period or default,
        product=options.product,
        target=target,
        target_user_id=user_id,
        count=DEFAULT_TOP if options.count is None else options.count,
        thread=options.thread,
        public=options.public,
    )


# --- subscriptions -----------------------------------------------------------------------------

SUBSCRIPTION_WORDS = ("subscribe", "subscriptions", "unsubscribe")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
_CADENCES = ("weekly", "monthly")


@dataclass(frozen=True, slots=True)
class SubscriptionCommand:
    """``/usage subscribe ...``, ``subscriptions`` or ``unsubscribe <n>``, as typed."""

    action: str  # subscribe, subscriptions, unsubscribe
    scope: str | None = None  # team, teams, me
    team: str | None = None
    cadence: str | None = None  # weekly, monthly
    channel_id: str | None = None  # None: the subscriber's DMs
    number: int | None = None


def parse_subscription(text: str) -> SubscriptionCommand | None:
    """Read a subscription command; None when ``text`` is not one (a report question)."""
    words = [_unescape(t.text) for t in _tokenize(text)]
    if not words or words[0].casefold() not in SUBSCRIPTION_WORDS:
        return None
    action, rest = words[0].casefold(), words[1:]
    if action == "subscriptions":
        if rest:
            raise CommandError("`subscriptions` takes nothing after it.", example="subscriptions")
        return SubscriptionCommand("subscriptions")
    if action == "unsubscribe":
        number = rest[0].lstrip("#") if len(rest) == 1 else ""
        if not number.isdigit():
            raise CommandError(
                "`unsubscribe` needs the number `/usage subscriptions` shows.",
                example="unsubscribe 2",
            )
        return SubscriptionCommand("unsubscribe", number=int(number))
    channel_id = None
    if rest and (match := _CHANNEL.fullmatch(rest[-1])):
        channel_id, rest = match.group(1), rest[:-1]
    elif rest and rest[-1].startswith("#"):
        raise CommandError(
            f"I cannot tell which channel `{_shown(rest[-1])}` is: pick it from Slack's # list.",
            example="subscribe team Mobile QA weekly #qa",
        )
    if not rest or rest[-1].casefold() not in _CADENCES:
        raise CommandError(
            "Say how often: `weekly` (Mondays) or `monthly` (the 1st), after what to send.",
            example="subscribe me weekly",
        )
    cadence, rest = rest[-1].casefold(), rest[:-1]
    scope = rest[0].casefold() if rest else ""
    if scope == "team":
        if len(rest) < 2:
            raise CommandError(
                "`subscribe team` needs a team name.", example="subscribe team Mobile QA weekly"
            )
        return SubscriptionCommand("subscribe", "team", " ".join(rest[1:]), cadence, channel_id)
    if scope in ("teams", "me") and len(rest) == 1:
        if scope == "me" and channel_id:
            raise CommandError(
                "Your own usage goes to your DMs only: leave the channel out.",
                example="subscribe me weekly",
            )
        return SubscriptionCommand("subscribe", scope, None, cadence, channel_id)
    raise CommandError(
        "Subscribe to `team <name>`, `teams` or `me`.", example="subscribe team Mobile QA weekly"
    )


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)
