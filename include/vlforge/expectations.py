"""Domain-named Great Expectations checks.

Each class is a built-in expectation under the name a data engineer reads in a
failed gate or in Data Docs. Columns and thresholds are passed where a suite is
built (each stage's ``gate.py``): GX leaves values that equal a class default out of the
stored configuration, which would hide them from results and Data Docs.
"""

from __future__ import annotations

import great_expectations.expectations as gxe


class ExpectBoxLeftTopInsideImage(gxe.ExpectColumnValuesToBeBetween):
    """A box's left or top edge is not negative."""


class ExpectBoxRightEdgeInsideImage(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """``image_width >= x2``."""


class ExpectBoxBottomEdgeInsideImage(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """``image_height >= y2``."""


class ExpectPositiveBoxWidth(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """``x2 > x1``."""


class ExpectPositiveBoxHeight(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """``y2 > y1``."""


class ExpectNonEmptyOcrText(gxe.ExpectColumnValueLengthsToBeBetween):
    """Every OCR line has a transcription."""


class ExpectKnownTaskTypes(gxe.ExpectColumnValuesToBeInSet):
    """Every sample's task type is one vlforge knows."""


class ExpectUniqueSampleIds(gxe.ExpectColumnValuesToBeUnique):
    """No two samples share an id."""


class ExpectImageInStore(gxe.ExpectColumnValuesToBeBetween):
    """Every image a sample refers to is a non-empty file in the content-addressed store."""


class ExpectQuarantineShareAtMost(gxe.ExpectColumnValuesToBeBetween):
    """The share of rows quarantined at ingest stays under the recipe's limit."""


class ExpectIouAgreementAtLeast(gxe.ExpectColumnMeanToBeBetween):
    """The mean box IoU between annotation rounds reaches the threshold."""


class ExpectOcrAccuracyAtLeast(gxe.ExpectColumnMeanToBeBetween):
    """The mean OCR accuracy (1 - edit distance / reference characters) between rounds reaches the threshold."""


class ExpectActionCompletenessAtLeast(gxe.ExpectColumnMeanToBeBetween):
    """The mean share of executable GUI actions reaches the threshold."""


class ExpectBertscoreF1AtLeast(gxe.ExpectColumnMeanToBeBetween):
    """The mean BERTScore F1 between rounds' captions and answers reaches the threshold."""


class ExpectNoEmptyConversation(gxe.ExpectColumnValuesToBeNull):
    """No augmented copy lost every answer its parent had or holds a blank turn (the column names the copy)."""


class ExpectSideWordsMatchFlips(gxe.ExpectColumnValuesToBeNull):
    """A copy's left/right words are its parent's, swapped once per odd number of mirrors (the column says why not)."""


class ExpectOpAppliedShareNearProbability(gxe.ExpectColumnValuesToBeBetween):
    """The share of eligible copies an augment op was applied to lies within the tolerance of its probability."""


class ExpectParaphraseBertscoreAtLeast(gxe.ExpectColumnValuesToBeBetween):
    """Every kept paraphrase's BERTScore F1 against its original reaches the recipe's threshold."""


class ExpectCurateDropsWithinLimit(gxe.ExpectColumnValuesToBeNull):
    """Dedup, filters and token budgets together drop at most the recipe's share of samples (the column says why not)."""


class ExpectSplitsNearRecipe(gxe.ExpectColumnValuesToBeNull):
    """Each split's share of the samples is within the recipe's tolerance of its ratio (the column says why not)."""


class ExpectMarkedSynthetic(gxe.ExpectColumnValuesToBeInSet):
    """Every sample of the synthesize stage carries ``synthetic = True``."""


class ExpectGlyphsCovered(gxe.ExpectColumnValuesToBeInSet):
    """Every character of a kept synthetic page is in a font that rendered it (no missing-glyph boxes)."""


class ExpectWordsWhole(gxe.ExpectColumnValuesToBeInSet):
    """No word of a kept synthetic page is split across lines or cut by its box."""


class ExpectDifficultyInRange(gxe.ExpectColumnValuesToBeBetween):
    """Tesseract's accuracy on every kept degraded page lies in the recipe's range."""


class ExpectActionsVerified(gxe.ExpectColumnValuesToBeInSet):
    """Every synthetic GUI sample's actions hit their elements and reached the expected state in Chromium."""


class ExpectNoDuplicateRenders(gxe.ExpectColumnValuesToBeUnique):
    """No image was rendered by two different synthetic items (same image, different seed or template)."""


def box_expectations() -> list[gxe.Expectation]:
    """Every box lies inside its image and has a positive area (a ``tables.boxes_table`` table)."""
    return [
        ExpectBoxLeftTopInsideImage(column="x1", min_value=0, description="Boxes start inside the image (x1 >= 0)."),
        ExpectBoxLeftTopInsideImage(column="y1", min_value=0, description="Boxes start inside the image (y1 >= 0)."),
        ExpectBoxRightEdgeInsideImage(
            column_A="image_width", column_B="x2", or_equal=True, description="Boxes end inside the image (x2 <= width)."
        ),
        ExpectBoxBottomEdgeInsideImage(
            column_A="image_height", column_B="y2", or_equal=True, description="Boxes end inside the image (y2 <= height)."
        ),
        ExpectPositiveBoxWidth(column_A="x2", column_B="x1", or_equal=False, description="Boxes have x2 > x1."),
        ExpectPositiveBoxHeight(column_A="y2", column_B="y1", or_equal=False, description="Boxes have y2 > y1."),
    ]
